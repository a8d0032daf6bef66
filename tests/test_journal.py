"""The sent journal read back (notifications/journal.py): a damaged file, a line still being written, a file
replaced by an older copy — none makes delivery believe a mail was sent that was not, and none crashes it."""

from __future__ import annotations

from notifications.journal import SentJournal


def test_garbage_and_a_half_written_line_count_for_nothing(tmp_path):
    path = tmp_path / "sent.journal"
    path.write_bytes(b"\x00\xff\xfe not a line of ours\n\n\t\t\t\n<rc.a@x>\t2026-12-01T00:00:00+00:00\treceipt\tk\n"
                     b"<rc.b@x>\t2026-12-01T00:00:01")  # the writer was interrupted: no newline yet
    journal = SentJournal(path)
    sent, waiting = journal.lookup(["<rc.a@x>", "<rc.b@x>", "<rc.c@x>"])
    assert (sent, waiting) == ({"<rc.a@x>"}, {})
    with path.open("ab") as f:  # the line is finished: now it counts
        f.write(b"\treceipt\tk2\n")
    assert journal.lookup(["<rc.b@x>"])[0] == {"<rc.b@x>"}


def test_a_partial_acceptance_then_a_full_one(tmp_path):
    journal = SentJournal(tmp_path / "sent.journal")
    journal.record("<rc.a@x>", "filing", "filing:R-2026-001:v1", ("b@x.cn", "c@x.cn"))
    journal.record("<rc.a@x>", "filing", "filing:R-2026-001:v1", ("c@x.cn",))
    assert SentJournal(journal.path).lookup(["<rc.a@x>"]) == (set(), {"<rc.a@x>": ("c@x.cn",)})  # read back
    journal.record("<rc.a@x>", "filing", "filing:R-2026-001:v1")
    assert SentJournal(journal.path).lookup(["<rc.a@x>"]) == ({"<rc.a@x>"}, {})


def test_a_journal_replaced_by_a_shorter_file_is_read_again_from_its_start(tmp_path):
    path = tmp_path / "sent.journal"
    journal = SentJournal(path)
    for n in range(3):
        journal.record(f"<rc.{n}@x>", "receipt", f"k{n}")
    assert journal.lookup(["<rc.2@x>"])[0] == {"<rc.2@x>"}
    path.write_text("<rc.9@x>\tt\treceipt\tk9\n")  # an operator put another file there
    assert journal.lookup(["<rc.2@x>", "<rc.9@x>"])[0] == {"<rc.9@x>"}
