// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", function () {
  // Move focus to the problem list so keyboard and screen reader users hear it first.
  var problems = document.getElementById("error-summary") ||
    document.getElementById("lookup-error") || document.getElementById("card-error");
  // Otherwise a message about what just happened ("Posted $40.00") is read first.
  var notice = problems || document.querySelector("main .notice");
  if (notice) {
    notice.setAttribute("tabindex", "-1");
    notice.focus();
  }
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
});
