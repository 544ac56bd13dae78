from __future__ import annotations

from slas.watermark import Cursor, SeenRange


def test_in_order_ids_with_no_horizon_collapse_into_the_watermark() -> None:
    cursor = Cursor()
    cursor.mark([1, 2, 3, 5], now_ns=100)
    assert cursor.gaps() == [(3, 5), (5, None)]  # id 4 is unread
    cursor.advance(now_ns=100, horizon_ns=0)
    assert cursor.watermark == 5 and cursor.seen == []
    assert cursor.gaps() == [(5, None)]


def test_out_of_order_commit_behind_the_watermark_is_not_lost() -> None:
    cursor = Cursor()
    # ids 1, 2 and 4 are visible at t=100; 3 is still uncommitted
    cursor.mark([1, 2, 4], now_ns=100)
    cursor.advance(now_ns=100, horizon_ns=50)
    assert cursor.watermark == 0
    assert cursor.gaps() == [(2, 4), (4, None)]  # 3 and everything above 4 are still to read
    # 3 commits; the next read of the gaps finds it
    cursor.mark([3], now_ns=120)
    cursor.advance(now_ns=140, horizon_ns=50)
    assert cursor.watermark == 0  # nothing seen long enough ago yet
    cursor.advance(now_ns=170, horizon_ns=50)  # ids 1..4 were all seen by t=120 <= 170-50
    assert cursor.watermark == 4 and cursor.seen == []


def test_advance_only_past_ids_seen_at_least_horizon_ago() -> None:
    cursor = Cursor(10, [SeenRange(11, 20, 100), SeenRange(25, 30, 200)])
    cursor.advance(now_ns=160, horizon_ns=50)
    assert cursor.watermark == 20
    assert cursor.seen == [SeenRange(25, 30, 200)]
    assert cursor.gaps() == [(20, 25), (30, None)]
    assert cursor.processed() == [(1, 20), (25, 30)]


def test_json_round_trip() -> None:
    cursor = Cursor(7, [SeenRange(9, 12, 5)])
    again = Cursor.from_json(cursor.watermark, cursor.to_json())
    assert again == cursor
