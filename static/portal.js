// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", function () {
  // Move focus to the problem list so keyboard and screen reader users hear it first.
  var problems = document.getElementById("error-summary") ||
    document.getElementById("lookup-error") || document.getElementById("card-error");
  if (problems) {
    problems.setAttribute("tabindex", "-1");
    problems.focus();
  }
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
});
