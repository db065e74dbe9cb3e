"""Sweet Home 3D file formats: Java .properties, the app's built-in OBJ materials, and MTL repair."""

from __future__ import annotations

import re
import struct
from pathlib import Path, PurePosixPath

MTL_SUFFIX = ".photo2cad.mtl"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def read_properties(data: bytes) -> dict[str, str]:
    """Parse a Java .properties file (ISO-8859-1, `\\uXXXX` escapes, `\\` line continuations)."""
    props: dict[str, str] = {}
    for line in _logical_lines(data.decode("latin-1")):
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]?\s*(.*)", line, re.DOTALL)
        if match:
            props[_unescape(match.group(1))] = _unescape(match.group(2))
    return props


def _logical_lines(text: str) -> list[str]:
    """Natural lines joined where a line ends in an odd number of backslashes; comments dropped."""
    lines, pending = [], ""
    for raw in text.splitlines():
        line = pending + (raw.lstrip() if pending else raw.strip())
        if not pending and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        pending = line[:-1] if trailing % 2 else ""
        if not trailing % 2:
            lines.append(line)
    if pending:
        lines.append(pending)
    return lines


def _unescape(text: str) -> str:
    def one(match: re.Match) -> str:
        esc = match.group(1)
        if esc.startswith("u"):
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, esc)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, text.rstrip())


def class_string_constants(data: bytes) -> list[str]:
    """The CONSTANT_Utf8 entries of a Java .class file's constant pool, decoded."""
    if data[:4] != b"\xca\xfe\xba\xbe":
        raise ValueError("not a Java class file")
    # (tag -> bytes after the tag) for fixed-size entries; long and double take two slots.
    sizes = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4,
             18: 4, 19: 2, 20: 2}
    count, pos, slot, out = struct.unpack(">H", data[8:10])[0], 10, 1, []
    while slot < count:
        tag = data[pos]
        if tag == 1:
            length = struct.unpack(">H", data[pos + 1:pos + 3])[0]
            out.append(data[pos + 3:pos + 3 + length].decode("utf-8", errors="replace"))
            pos += 3 + length
        elif tag in sizes:
            pos += 1 + sizes[tag]
            slot += tag in (5, 6)
        else:
            raise ValueError(f"unknown constant pool tag {tag} at byte {pos}")
        slot += 1
    return out


def default_materials(objloader_class: bytes) -> dict[str, str]:
    """Sweet Home 3D's built-in material library (OBJ files of its catalogue use it without an
    `mtllib`), read from the OBJLoader.class string constant. Returns {name: "newmtl ..." block}."""
    library = max((s for s in class_string_constants(objloader_class) if "\nKd " in s),
                  key=len, default="")
    return split_mtl(library)


def split_mtl(text: str) -> dict[str, str]:
    """{material name: its block of lines starting with `newmtl`} of an MTL text."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        words = line.split(maxsplit=1)
        if words and words[0] == "newmtl" and len(words) == 2:
            current = blocks.setdefault(words[1].strip(), [])
        if current is not None and line.strip():
            current.append(line.strip())
    return {name: "\n".join(lines) for name, lines in blocks.items()}


def fix_obj_materials(obj: Path, defaults: dict[str, str]) -> list[str]:
    """Make `obj` load with its colours in trimesh, in place; return the material names not found.

    trimesh reads only the first `mtllib` and needs texture paths relative to the OBJ. So all libraries
    the OBJ names are merged into one `<stem>.photo2cad.mtl`, with texture paths repaired (absolute
    paths from the author's disk become the file of that name next to the OBJ, or are dropped) and the
    built-in materials added for names no library defines, and the OBJ's mtllib lines point to it.
    """
    text = obj.read_text(encoding="latin-1")
    used = set(re.findall(r"^\s*usemtl\s+(.+?)\s*$", text, re.MULTILINE))
    blocks: dict[str, str] = {}
    for lib in re.findall(r"^\s*mtllib\s+(.+?)\s*$", text, re.MULTILINE):
        for path in _library_files(obj.parent, lib):
            blocks.update(split_mtl(path.read_text(encoding="latin-1")))
    blocks = {name: _fix_texture_lines(block, obj.parent) for name, block in blocks.items()}
    blocks.update({n: defaults[n] for n in sorted(used - blocks.keys()) if n in defaults})
    mtl_name = obj.stem + MTL_SUFFIX
    (obj.parent / mtl_name).write_text("\n\n".join(blocks.values()) + "\n", encoding="latin-1")
    body = re.sub(r"^\s*mtllib\s.*\n?", "", text, flags=re.MULTILINE)
    obj.write_text(f"mtllib {mtl_name}\n{body}", encoding="latin-1")
    return sorted(used - blocks.keys())


def _library_files(folder: Path, spec: str) -> list[Path]:
    """The existing files an `mtllib` line names (one name with spaces, or several names)."""
    whole = folder / spec
    if whole.is_file():
        return [whole]
    return [folder / name for name in spec.split() if (folder / name).is_file()]


def _fix_texture_lines(block: str, folder: Path) -> str:
    lines = []
    for line in block.splitlines():
        key, _, value = line.partition(" ")
        if key.lower().startswith("map_") or key.lower() in ("bump", "disp", "decal", "refl"):
            found = _texture_file(value.strip(), folder)
            if found is None:
                continue
            line = f"{key} {found}"
        lines.append(line)
    return "\n".join(lines)


def _texture_file(spec: str, folder: Path) -> str | None:
    """Texture path relative to `folder`: as written, else the same file name in `folder`."""
    spec = spec.replace("\\", "/")
    relative = spec.lstrip("/")
    if not PurePosixPath(spec).is_absolute() and ":" not in spec and (folder / relative).is_file():
        return relative
    base = PurePosixPath(spec).name
    return base if base and (folder / base).is_file() else None


def fix_obj_faces(obj: Path) -> int:
    """Split the OBJ's concave polygons into triangles by ear clipping, in place; return how many.

    trimesh fans every polygon from its first corner, which fills in concave outlines (Sweet Home 3D's
    chair2 legs become solid triangles); the app itself triangulates them properly. Convex polygons
    are kept as they are.
    """
    lines, vertices, fixed = obj.read_text(encoding="latin-1").splitlines(), [], 0
    out = []
    for line in lines:
        words = line.split()
        if words[:1] == ["v"] and len(words) >= 4:
            vertices.append([float(w) for w in words[1:4]])
        if words[:1] == ["f"] and len(words) > 4:
            corners = words[1:]
            points = [vertices[_vertex_index(c, len(vertices))] for c in corners]
            triangles = _ear_clip(_project(points))
            if triangles is not None:
                out += ["f " + " ".join(corners[i] for i in tri) for tri in triangles]
                fixed += 1
                continue
        out.append(line)
    if fixed:
        obj.write_text("\n".join(out) + "\n", encoding="latin-1")
    return fixed


def _vertex_index(corner: str, count: int) -> int:
    index = int(corner.split("/")[0])
    return index - 1 if index > 0 else count + index


def _project(points: list[list[float]]) -> list[tuple[float, float]]:
    """Polygon corners (x, y, z) -> (u, v) in its plane (Newell normal), counter-clockwise seen from
    the normal's side. Plain floats: this runs for every quad of every model."""
    normal = [0.0, 0.0, 0.0]
    for (x1, y1, z1), (x2, y2, z2) in zip(points, points[1:] + points[:1]):
        normal[0] += y1 * z2 - z1 * y2
        normal[1] += z1 * x2 - x1 * z2
        normal[2] += x1 * y2 - y1 * x2
    axis = max(range(3), key=lambda i: abs(normal[i]))
    u, v = (axis + 1) % 3, (axis + 2) % 3
    if normal[axis] < 0:
        u, v = v, u
    return [(p[u], p[v]) for p in points]


def _ear_clip(flat: list[tuple[float, float]]) -> list[tuple[int, int, int]] | None:
    """Triangles of a simple 2-D polygon, or None when it is convex (a fan is right then)."""
    n = len(flat)
    turns = [_cross(flat[i - 1], flat[i], flat[(i + 1) % n]) for i in range(n)]
    if all(t >= 0 for t in turns):
        return None
    ring, triangles = list(range(n)), []
    while len(ring) > 3:
        ear = next((k for k in range(len(ring)) if _is_ear(flat, ring, k)), None)
        if ear is None:  # degenerate outline: fan the rest rather than loop forever
            break
        triangles.append((ring[ear - 1], ring[ear], ring[(ear + 1) % len(ring)]))
        ring.pop(ear)
    return triangles + [(ring[0], ring[i], ring[i + 1]) for i in range(1, len(ring) - 1)]


def _is_ear(flat: list[tuple[float, float]], ring: list[int], k: int) -> bool:
    a, b, c = ring[k - 1], ring[k], ring[(k + 1) % len(ring)]
    if _cross(flat[a], flat[b], flat[c]) <= 0:
        return False
    return not any(_inside(flat[p], flat[a], flat[b], flat[c]) for p in ring if p not in (a, b, c))


def _inside(p: tuple, a: tuple, b: tuple, c: tuple) -> bool:
    return _cross(a, b, p) >= 0 and _cross(b, c, p) >= 0 and _cross(c, a, p) >= 0


def _cross(a: tuple, b: tuple, c: tuple) -> float:
    return ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
