#!/usr/bin/env python3
"""Differential test of Switchyard's TOML parser against Python's tomllib (the reference).

Generates random TOML documents (valid, and mutated into mostly invalid ones), parses each with
tomllib and with a small Swift executable around TOMLParser, and reports every document where the
two disagree: one accepts and the other refuses, or both accept with different values.

    python3 Tests/tools/toml_differential.py --cli /tmp/toml-pkg/.build/debug/tomlcli --count 20000 --seed 1

The CLI reads length-framed documents from a file and prints one JSON line per document (see
--help). Deliberate differences (integers outside 64 bits, U+0085/U+2028/U+2029 in comments, a
leading byte order mark) are counted apart, not as failures.
"""
import argparse, json, math, random, subprocess, sys, tempfile, tomllib

KEYS = ["a", "b", "c", "x-y", "1", "_", "B", "ab", '"a"', "'b'", '"é"', '""', "''", '"a.b"', '"\\u0061"', "true", "inf", "-"]
ALPHABET = list("[]{}=,.\"'#\n \t\\_-+:0123456789abexTZuU") + ["\r\n", "\r", "\x00", "\x7f", "\u0085", "\u2028", "é", "\"\"\"", "'''", "[[", "]]", "\x08", "\ufeff"]


def key(r):
    parts = [r.choice(KEYS) for _ in range(1 + (r.random() < 0.4) + (r.random() < 0.15))]
    sep = r.choice([".", ".", " . ", ". "])
    return sep.join(parts)


def integer(r):
    n = r.choice([0, 1, 7, 42, 1000, 123456789, 2**63 - 1, 2**63, 2**64, r.randrange(-10**6, 10**6)])
    form = r.randrange(9)
    if form == 0 and n >= 0: return hex(n)
    if form == 1 and n >= 0: return oct(n)
    if form == 2 and n >= 0: return bin(n)
    if form == 3 and n < 0: return "-" + str(-n) if r.random() < 0.5 else "-9223372036854775808"
    if form == 4: return "+" + str(abs(n))
    if form == 5 and abs(n) >= 1000: s = str(n); return s[:2] + "_" + s[2:]
    if form == 6: return r.choice(["0x_1", "0xDEAD_beef", "0o777", "0b1_0", "00", "01", "-0", "+0", "1__0", "1_", "0xG", "0X1", "-0x1", "0o8", "0b2"])
    return str(n)


def floating(r):
    return r.choice(["1.0", "-0.0", "+1.5", "3.1415", "1e10", "1E-5", "6.02e+23", "1_000.000_1", "inf", "-inf", "+inf", "nan", "-nan", "+nan",
                     "1e400", "-1e400", "1.", ".5", "1.e5", "1e", "1e_5", "1_.0", "0.0e0", "00.1", "1e0_1", "5e-324", "1.7976931348623157e308",
                     "0e0", "-0e-0", "1.5E+3", "2e1.5", str(r.uniform(-1e6, 1e6)), repr(r.random())])


def date(r):
    return r.choice(["1979-05-27", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00", "1979-05-27t07:32:00.999999-07:00", "07:32:00", "00:32:00.5",
                     "2000-02-29", "1900-02-29", "2001-02-29", "1979-13-01", "1979-05-32", "0000-01-01", "9999-12-31T23:59:59z", "1979-05-27T24:00:00",
                     "1979-05-27T07:32:60", "1979-05-27T07:32", "07:32", "1979-05-27T07:32:00+24:00", "1979-05-27T07:32:00+23:59", "1979-05-27T07:32:00.",
                     "1979-05-27 07:32:00Z", "1979-5-27", "1979-05-27T07:32:00.1234567890Z", "1979-05-27T07:32:00-00:00"])


def basic_string(r):
    pieces = ["a", " ", "é", "\\n", "\\t", "\\\"", "\\\\", "\\u00e9", "\\U0001F600", "\\b", "\\f", "\\r", "\t", "'", "#", "\u2028", "\u0085"]
    if r.random() < 0.2: pieces += ["\\x", "\\u12", "\\uD800", "\\U00110000", "\\ ", "\\", "\x01", "\x7f"]
    return '"' + "".join(r.choice(pieces) for _ in range(r.randrange(6))) + '"'


def multiline_basic(r):
    pieces = ["a", "\n", "\r\n", "\\\n   ", "\\  \n\n  x", "\"", "\"\"", "\\\"\"\"", "\t", "\\u00e9", "é", "#"]
    if r.random() < 0.2: pieces += ["\\ x", "\r", "\x00", "\\"]
    body = "".join(r.choice(pieces) for _ in range(r.randrange(6)))
    return '"""' + r.choice(["", "\n", "\r\n"]) + body + r.choice(['"""', '""""', '"""""'])


def literal(r):
    body = "".join(r.choice(["a", "\\", "\"", " ", "é", "\t", "\\n"] + (["\n", "\x01"] if r.random() < 0.1 else [])) for _ in range(r.randrange(6)))
    return "'" + body + "'"


def multiline_literal(r):
    body = "".join(r.choice(["a", "\n", "\r\n", "'", "''", "\\", "é", "\t"] + (["\r", "\x00"] if r.random() < 0.1 else [])) for _ in range(r.randrange(6)))
    return "'''" + r.choice(["", "\n"]) + body + r.choice(["'''", "''''", "'''''"])


def value(r, depth=0):
    choice = r.randrange(12 if depth < 4 else 9)
    if choice == 0: return integer(r)
    if choice == 1: return floating(r)
    if choice == 2: return r.choice(["true", "false", "True", "tru", "falsey"]) if r.random() < 0.1 else r.choice(["true", "false"])
    if choice == 3: return date(r)
    if choice == 4: return basic_string(r)
    if choice == 5: return multiline_basic(r)
    if choice == 6: return literal(r)
    if choice == 7: return multiline_literal(r)
    if choice == 8: return integer(r)
    if choice in (9, 10):
        items = [value(r, depth + 1) for _ in range(r.randrange(4))]
        seps = [r.choice([",", ", ", ",\n", " ,\n  ", ", # c\n", ",\r\n"]) for _ in items]
        text = "[" + r.choice(["", "\n", " ", "# c\n"]) + "".join(i + s for i, s in zip(items, seps))
        if items and r.random() < 0.6: text = text.rstrip(",\n #c\r ")
        return text + r.choice(["]", " ]", "\n]"])
    pairs = [f"{key(r)} = {value(r, depth + 1)}" for _ in range(r.randrange(4))]
    return "{" + r.choice(["", " "]) + ", ".join(pairs) + r.choice(["", " ", ",", ", "]) + "}"


def document(r):
    lines = []
    for _ in range(r.randrange(1, 12)):
        kind = r.randrange(10)
        if kind < 5: lines.append(key(r) + r.choice(["=", " = ", " =", "\t=\t"]) + value(r) + r.choice(["", " # comment", "\t#x", " #\u00e9"]))
        elif kind < 7: lines.append(f"[{r.choice(['', ' '])}{key(r)}{r.choice(['', ' '])}]{r.choice(['', ' # t'])}")
        elif kind < 8: lines.append(f"[[{key(r)}]]")
        elif kind < 9: lines.append(r.choice(["# comment", "", "   ", "\t# \u00e9 x"]))
        else: lines.append(r.choice(["[a]", "[a.b]", "[[a.b]]", "a.b.c = 1", "[a.b.c]", "[x]", "x.y = 2", "[[x]]", "b = {}", "c = []"]))
    return r.choice(["\n", "\n", "\r\n"]).join(lines) + r.choice(["", "\n"])


def mutate(r, text):
    for _ in range(r.randrange(1, 4)):
        at = r.randrange(len(text) + 1)
        op = r.randrange(3)
        if op == 0: text = text[:at] + r.choice(ALPHABET) + text[at:]
        elif op == 1: text = text[:at] + text[at + 1 + r.randrange(3):]
        else:
            lines = text.split("\n")
            if lines:
                i = r.randrange(len(lines))
                lines.insert(r.randrange(len(lines) + 1), lines[i])
                text = "\n".join(lines)
    return text


def tagged(v):
    """tomllib's value in the CLI's tagged shape."""
    if isinstance(v, dict): return {k: tagged(x) for k, x in v.items()}
    if isinstance(v, list): return [tagged(x) for x in v]
    if isinstance(v, bool): return ("bool", v)
    if isinstance(v, int): return ("integer", v)
    if isinstance(v, float): return ("float", v)
    if isinstance(v, str): return ("string", v)
    return ("datetime", v)


def same(ours, ref):
    if isinstance(ref, dict):
        return isinstance(ours, dict) and ours.keys() == ref.keys() and all(same(ours[k], ref[k]) for k in ref)
    if isinstance(ref, list):
        return isinstance(ours, list) and len(ours) == len(ref) and all(same(a, b) for a, b in zip(ours, ref))
    kind, expected = ref
    if not isinstance(ours, dict) or ours.get("type") != kind: return False
    text = ours["value"]
    if kind == "bool": return text == ("true" if expected else "false")
    if kind == "integer": return int(text) == expected
    if kind == "float":
        got = float(text)
        return (math.isnan(got) and math.isnan(expected)) or (got == expected and math.copysign(1, got) == math.copysign(1, expected))
    if kind == "string": return text == expected
    return tomllib.loads("x = " + text)["x"] == expected


def out_of_int64(v):
    if isinstance(v, dict): return any(out_of_int64(x) for x in v.values())
    if isinstance(v, list): return any(out_of_int64(x) for x in v)
    return isinstance(v, int) and not isinstance(v, bool) and not (-2**63 <= v < 2**63)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=10, help="how many differences to print")
    args = parser.parse_args()
    r = random.Random(args.seed)
    docs = []
    for _ in range(args.count):
        text = document(r)
        if r.random() < 0.5: text = mutate(r, text)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text): continue
        docs.append(text)
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        for text in docs:
            data = text.encode()
            f.write(b"%d\n" % len(data) + data)
    results = subprocess.run([args.cli, f.name], capture_output=True, check=True).stdout.decode().split("\n")[:-1]
    assert len(results) == len(docs), (len(results), len(docs))
    stats = {"compared": len(docs), "both accept, same value": 0, "both refuse": 0, "deliberate": 0, "differ": 0}
    shown = 0
    for text, line in zip(docs, results):
        ours = json.loads(line)
        try:
            ref, ref_error = tomllib.loads(text), None
        except tomllib.TOMLDecodeError as error:
            ref, ref_error = None, str(error)
        except RecursionError:
            continue
        if ref is not None and "ok" in ours and same(ours["ok"], tagged(ref)):
            stats["both accept, same value"] += 1
            continue
        if ref is None and "error" in ours:
            stats["both refuse"] += 1
            continue
        if ref is not None and "error" in ours and (
            out_of_int64(ref) or text.startswith("\ufeff")
            or ("Unicode line break" in ours["error"] and any(c in text for c in "\u0085\u2028\u2029"))
        ):
            stats["deliberate"] += 1
            continue
        if ref is None and "ok" in ours and text.startswith("\ufeff"):
            try:
                tomllib.loads(text[1:])
                stats["deliberate"] += 1
                continue
            except tomllib.TOMLDecodeError:
                pass
        stats["differ"] += 1
        if shown < args.show:
            shown += 1
            print("---- DIFFERENCE", repr(text))
            print("  tomllib:", ref_error or json.dumps(tagged(ref), default=str)[:300])
            print("  ours:   ", line[:300])
    print(json.dumps(stats))
    sys.exit(1 if stats["differ"] else 0)


if __name__ == "__main__":
    main()
