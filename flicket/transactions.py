"""Work tied to the end of the request's transaction: files to remove, mail to hand to
the SMTP server, writes to Redis.

``when_done(manager, committed=..., aborted=...)`` joins the transaction as a small data
manager: ``committed`` runs in the last phase of the commit (after every manager voted;
zope.sqlalchemy commits the database in its vote), ``aborted`` when the transaction is
rolled back instead. Exactly one of them runs, once. A data manager, not the
transaction's after-commit hooks: those make ``transaction`` call ``abort()`` again on every
manager after a successful commit, which repoze.sendmail's mail queue answers with a
logged ``TransactionCommitted`` traceback.

The callables take no argument and must not fail the commit: an exception is logged.
"""

import itertools
import logging

import transaction

log = logging.getLogger(__name__)
_numbers = itertools.count()


class _Outcome:
    transaction_manager = None

    def __init__(self, committed, aborted):
        self.committed = committed
        self.aborted = aborted
        self.done = False
        # After the database and the mail queue: their own order is theirs.
        self._key = f"~flicket-outcome-{next(_numbers):012d}"

    def sortKey(self):
        return self._key

    def _end(self, callback):
        if self.done:
            return
        self.done = True
        if callback is None:
            return
        try:
            callback()
        except Exception:  # noqa: BLE001 - the transaction's outcome is already decided
            log.exception("work after the end of a transaction failed")

    def tpc_finish(self, txn):
        self._end(self.committed)

    def abort(self, txn):
        self._end(self.aborted)

    def tpc_abort(self, txn):
        self._end(self.aborted)

    def tpc_begin(self, txn):
        pass

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        pass


def when_done(manager=None, *, committed=None, aborted=None):
    """Run ``committed()`` once the current transaction of ``manager`` (default: the
    thread's) has committed, or ``aborted()`` if it is rolled back instead."""
    (manager or transaction.manager).get().join(_Outcome(committed, aborted))
