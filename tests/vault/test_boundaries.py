"""The gateway is the only door: what import-linter cannot say, this test does.

import-linter forbids `suggestions` every vault module but vault.gateway, and
`cryptography` (pyproject.toml). It cannot forbid a submodule of an external
package, so Django's storage API is checked here: suggestions never opens storage
itself (where encrypted blobs live) and so cannot go around the gateway.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django.core.files.storage", "storages", "cryptography", "vault.")


def imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_suggestions_never_imports_storage_crypto_or_vault_internals():
    offending = []
    for path in sorted((ROOT / "suggestions").rglob("*.py")):
        for name in imported_names(path):
            if name == "vault.gateway" or name.startswith("vault.gateway."):
                continue
            if any(name == f.rstrip(".") or name.startswith(f) for f in FORBIDDEN):
                offending.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offending, offending


GATEWAY_NAMES = {
    "PURPOSE_SUGGESTIONS", "PURPOSE_FACES", "PURPOSE_OWNER", "PURPOSES", "GatewayDenied", "ItemMeta",
    "ReleasedItem", "OpenedContent", "candidates", "release", "owner_open", "output_store", "output_open",
    "outputs_meta", "output_delete", "MediaUploaded",
    "MediaTrashed", "held_count", "output_shared_open", "FaceSealer", "faces_sealing", "faces_open",
    # a recap's MP4 served with HTTP Range (vault.ranges)
    "ByteRange", "RangeNotSatisfiable", "RangedOutput", "output_ranged", "output_shared_ranged", "ranged_response",
    # a video's content leaves only as time ranges
    "ReleasedRange", "video_candidates", "release_ranges",
    # counts of what other apps hold, for erase and revoke confirmations (vault.held)
    "held_counter_register", "held_counts",
}


def test_the_gateway_is_a_narrow_facade():
    """What suggestions can reach through vault.gateway is exactly its public names: no module
    (keys, storage, models) and no helper is an attribute of it."""
    from vault import gateway

    reachable = {name for name in vars(gateway) if not name.startswith("__")}
    assert reachable == GATEWAY_NAMES == set(gateway.__all__)
    assert not any(isinstance(getattr(gateway, name), type(gateway)) for name in reachable)
