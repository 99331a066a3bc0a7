"""Reports the Lambda zip's size at the end of the run, whether or not output is captured."""


def pytest_terminal_summary(terminalreporter) -> None:
    for outcome in ("passed", "failed"):
        for report in terminalreporter.getreports(outcome):
            for name, value in report.user_properties:
                if name == "lambda_zip_bytes":
                    terminalreporter.write_line(f"lambda zip: {value / 1e6:.1f} MB")
