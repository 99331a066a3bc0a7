"""Crash tests (issue 13): every money or message path, killed at each write step.

The standard: every money or message path is tested with the process killed at each write
step, with two processes at once, and with the same input delivered again; nothing claimed
may be left without a path that finishes it.

How it works
  faults.py     A test-only proxy around a `Services`' store, mailer and card gateway. Every
                public method not in that component's READS set is a write step; the
                process is killed with `os._exit(137)` just before or just after step N.
  harness.py    Forks a child that builds its own services and delivers the input with the
                kill armed; then, in the parent, "restarts" on the same SQLite file or
                DynamoDB table (moto's server over HTTP): the input again at +1 minute (and
                at +1 hour while its sender is told to retry), the daily reminder run at
                +1 day, then `check_outcome` compares the ledger, the Stripe stand-in, the
                outbox, the mail log and the claims with the scenario's own numbers.
  scenarios.py  One class per path: posting a card payment by webhook, a statement notice,
                a reminder, a staff refund.
  test_crash.py Finds each scenario's write steps by running it once on SQLite at
                collection, and makes one test per kill point per store, plus two
                processes at once per scenario per store.

Adding a money feature's scenario
  1. In scenarios.py write a class with `name`, `prepare(services, stub)` (the records and
     the processor's side before the input: use a fresh account number), `deliver(services)`
     (one delivery of the input; return True when its sender would try again later, e.g. a
     non-2xx answer to Stripe) and `expected()` (an `Expected` from the scenario's own
     numbers: the account's ledger total, the cents each payment took and gave back, the
     e-mails by (kind, to)). Keep the account's statements not past due on the day of the
     daily run, unless reminders are the point.
  2. Add an instance to `SCENARIOS`. Its kill points, on both stores, appear by themselves.
  3. A new store method is a write step unless it is added to `STORE_READS` in faults.py
     (do that only for methods that change nothing).
  4. If the path touches something `check_outcome` does not look at yet (another processor
     object, a new record), extend `Expected` and `check_outcome`, reading the records
     directly or through plain store reads, never through the code under test's own
     balance or matching logic.
"""
