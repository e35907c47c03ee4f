"""``flicket.transactions.when_done``: exactly one of committed/aborted runs, once, and a
commit that also queues mail logs no error (the after-commit-hook problem it replaces)."""

import logging
import os

import pytest
import transaction
from pyramid_mailer.mailer import Mailer
from pyramid_mailer.message import Message

from flicket.transactions import when_done


@pytest.fixture
def manager():
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    yield tm
    try:
        tm.abort()
    except transaction.interfaces.NoTransaction:  # the test ended it
        pass


def recorder():
    calls = []
    return calls, (lambda: calls.append("committed")), (lambda: calls.append("aborted"))


def test_a_commit_runs_committed_only(manager):
    calls, committed, aborted = recorder()
    when_done(manager, committed=committed, aborted=aborted)
    manager.commit()
    assert calls == ["committed"]


def test_an_abort_runs_aborted_only(manager):
    calls, committed, aborted = recorder()
    when_done(manager, committed=committed, aborted=aborted)
    manager.abort()
    assert calls == ["aborted"]


def test_a_failed_vote_runs_aborted(manager):
    calls, committed, aborted = recorder()

    class Refuses:
        def sortKey(self):
            return "a-refusing-manager"

        def abort(self, txn):
            pass

        tpc_begin = commit = tpc_abort = tpc_finish = abort

        def tpc_vote(self, txn):
            raise RuntimeError("the database refused the commit")

    when_done(manager, committed=committed, aborted=aborted)
    manager.get().join(Refuses())
    with pytest.raises(RuntimeError):
        manager.commit()
    assert calls == ["aborted"]


def test_after_commit_hooks_of_others_do_not_abort_it_again(manager):
    calls, committed, aborted = recorder()
    when_done(manager, committed=committed, aborted=aborted)
    manager.get().addAfterCommitHook(lambda ok: calls.append(f"hook {ok}"))
    manager.commit()
    assert calls == ["committed", "hook True"]


def test_a_failing_callable_is_logged_and_the_commit_stands(manager, caplog):
    calls, committed, _aborted = recorder()

    def fails():
        raise OSError("disk gone")

    when_done(manager, committed=fails)
    when_done(manager, committed=committed)
    with caplog.at_level(logging.ERROR, logger="flicket.transactions"):
        manager.commit()
    assert calls == ["committed"]
    assert "work after the end of a transaction failed" in caplog.text


def test_queued_mail_and_file_work_commit_without_an_error(manager, tmp_path, caplog):
    """What an upload request in production does: queue a notice and keep a file."""
    for folder in ("new", "cur", "tmp"):
        os.makedirs(tmp_path / "queue" / folder)
    Mailer(queue_path=str(tmp_path / "queue"), transaction_manager=manager).send_to_queue(
        Message(subject="s", sender="a@example.com", recipients=["b@example.com"], body="b")
    )
    calls, committed, aborted = recorder()
    when_done(manager, committed=committed, aborted=aborted)
    with caplog.at_level(logging.DEBUG):
        manager.commit()
    assert calls == ["committed"]
    assert len(os.listdir(tmp_path / "queue" / "new")) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
