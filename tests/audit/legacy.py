"""A trail written before entries: events in the chained format (v 2, their seq and the previous
hash inside, MAC'd under the chained label), appended as the service appended them then."""

from django.db import connection, transaction
from django.utils import timezone

from audit import canonical, holder_logs, outbox, tiles
from audit.keys import mac_key
from audit.merkle import CompactRange
from audit.services import EventInput, _validated


def append_chained(count: int, *, now=None) -> None:
    now = now or timezone.now()
    time_text = canonical.format_time(now)
    with transaction.atomic(), connection.cursor() as cursor:
        size, prev, compact = outbox.lock_head(cursor)
        tree = CompactRange.from_bytes(size, compact)
        rows, leaves = [], []
        for seq in range(size + 1, size + count + 1):
            valid = _validated(EventInput(action="media.read", actor_kind="service", actor_id=str(seq % 3),
                                          subject_id=seq % 4 + 1, object_type="media_item", object_id=seq,
                                          details={"count": seq}, request_id=""))
            body = canonical.encode_chained(valid, seq=seq, time=time_text, prev_hash=prev)
            leaf = canonical.leaf_hash(body)
            f = valid.fields
            rows.append([seq, connection.ops.adapt_datetimefield_value(now), f["actor_kind"], f["actor_id"],
                         f["action"], f["subject_id"], f["object_type"], f["object_id"], f["purpose"], f["outcome"],
                         f["request_id"], valid.details_json.decode(), body, prev, leaf.hex(), f["event_id"],
                         canonical.mac(leaf, mac_key(), canonical.CHAINED_MAC_LABEL)])
            leaves.append(leaf)
            prev = leaf.hex()
        cursor.executemany(outbox._INSERT_SQL, rows)
        tiles.store_filled_tiles(size, leaves)
        # Their holders' logs, as migration 0014 builds them for events written before holder logs.
        holder_logs.integrate(cursor, [(row[0], row[5], leaf) for row, leaf in zip(rows, leaves, strict=True)],
                              mac_key())
        tree.extend(leaves)
        cursor.execute(outbox._UPDATE_HEAD_SQL, [tree.size, prev, tree.to_bytes()])
