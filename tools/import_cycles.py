#!/usr/bin/env python
"""Import cycles among consentsvc's own packages, function-local imports included.

Builds the import graph with grimp (which import-linter uses), counting every import statement
wherever it stands (a local import hides a cycle, it does not remove it), then reports:
  - module cycles: strongly connected groups of two or more modules;
  - package cycles: the same among the top-level packages (the apps, core and the shell).
Exits 1 if there is any. Run from the repository root: python tools/import_cycles.py
"""

from __future__ import annotations

import sys
from pathlib import Path

# Every package at the top of the tree is counted, found rather than listed, so a new app is in the
# count the day it appears; the tests are not code the service runs.
NOT_COUNTED = frozenset({"tests"})


def packages(root: Path | None = None) -> tuple[str, ...]:
    """The top-level packages under `root` (the current directory): folders with an __init__.py."""
    root = root or Path.cwd()
    return tuple(sorted(p.name for p in root.iterdir()
                        if (p / "__init__.py").is_file() and p.name not in NOT_COUNTED))


def _strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; groups of two or more only, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def import_cycles(names: tuple[str, ...] | None = None) -> tuple[list[list[str]], list[list[str]]]:
    """(module cycles, package cycles) among `names` (every top-level package here when None),
    which must be importable."""
    import grimp

    present = packages() if names is None else tuple(p for p in names if (Path.cwd() / p / "__init__.py").exists())
    graph = grimp.build_graph(*present, cache_dir=None)
    modules = set(graph.modules)
    module_edges = {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}
    package_edges: dict[str, set[str]] = {}
    for source, targets in module_edges.items():
        top = source.split(".")[0]
        package_edges.setdefault(top, set()).update(t.split(".")[0] for t in targets if t.split(".")[0] != top)
    return (
        _strongly_connected(modules, module_edges),
        _strongly_connected(set(present), package_edges),
    )


def main() -> int:
    sys.path.insert(0, str(Path.cwd()))
    module_cycles, package_cycles = import_cycles()
    print(f"module cycles: {len(module_cycles)}")
    for group in module_cycles:
        print("  " + " <-> ".join(group))
    print(f"package cycles: {len(package_cycles)}")
    for group in package_cycles:
        print("  " + " <-> ".join(group))
    return 1 if module_cycles or package_cycles else 0


if __name__ == "__main__":
    sys.exit(main())
