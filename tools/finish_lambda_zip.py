"""Finish the Lambda zip Zappa built (`make package`): bytecode in place of sources, and
without the parts of dependencies the portal never loads.

Lambda's task root is read-only, so a zip of sources makes every cold start compile every
module it imports. Here each module `x.py` becomes `x.pyc` next to where it was, compiled by
this interpreter, which must be the runtime's (zappa_settings.json names it): Python finds
a lone `x.pyc` with its SourcelessFileLoader, which checks only the magic number, so neither
the zip's timestamps nor `PYTHONPYCACHEPREFIX` nor `-B` can send it back to the source. The
.pyc files are unchecked-hash ones (PEP 552), so the same sources give the same zip.

    python tools/finish_lambda_zip.py build/lambda.zip [--stage dev]
"""

import argparse
import ast
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where Lambda unpacks the zip: the file names tracebacks show.
TASK_ROOT = "/var/task"
DATACLASS_CODE = "portal/dataclass_code.marshal"  # read by portal/dataclass_code.py

# fontTools is there for fpdf2's font subsetting: the modules that embedding the statement
# fonts (static/fonts) loads, table modules included (fontTools loads them by table tag).
FONTTOOLS_TEXT = """
    fontTools cffLib cffLib.CFF2ToCFF cffLib.specializer cffLib.transforms cffLib.width
    colorLib colorLib.builder colorLib.errors colorLib.geometry colorLib.table_builder
    colorLib.unbuilder config designspaceLib designspaceLib.split designspaceLib.statNames
    designspaceLib.types encodings encodings.codecs feaLib feaLib.ast feaLib.error
    feaLib.location feaLib.lookupDebugInfo misc misc.arrayTools misc.bezierTools
    misc.classifyTools misc.cliTools misc.configTools misc.cython misc.dictTools
    misc.encodingTools misc.etree misc.filenames misc.fixedTools misc.intTools misc.iterTools
    misc.lazyTools misc.loggingTools misc.plistlib misc.psCharStrings misc.roundTools
    misc.sstruct misc.textTools misc.timeTools misc.transform misc.treeTools misc.vector
    misc.visitor misc.xmlWriter otlLib otlLib.builder otlLib.error otlLib.maxContextCalc
    otlLib.optimize otlLib.optimize.gpos pens pens.basePen pens.boundsPen pens.filterPen
    pens.pointPen pens.recordingPen pens.transformPen pens.ttGlyphPen subset subset.cff
    subset.svg subset.util svgLib svgLib.path svgLib.path.arc svgLib.path.parser
    svgLib.path.shapes ttLib ttLib.beyond64k ttLib.sfnt ttLib.standardGlyphOrder
    ttLib.tables ttLib.ttCollection ttLib.ttFont ttLib.ttGlyphSet ttLib.ttVisitor unicode
    unicodedata unicodedata.Blocks unicodedata.Mirrored unicodedata.OTTags
    unicodedata.ScriptExtensions
    unicodedata.Scripts varLib varLib.builder varLib.errors varLib.featureVars
    varLib.instancer varLib.instancer.cff varLib.instancer.colr varLib.instancer.featureVars
    varLib.instancer.names varLib.instancer.solver varLib.iup varLib.merger varLib.models
    varLib.multiVarStore varLib.mvar varLib.stat varLib.varStore
"""
FONTTOOLS_TABLES = """
        BitmapGlyphMetrics C_F_F_ C_O_L_R_ C_P_A_L_ D_S_I_G_ DefaultTable E_B_D_T_
        E_B_L_C_ G_D_E_F_ G_P_O_S_ G_S_U_B_ H_V_A_R_ M_A_T_H_ O_S_2f_2 S_V_G_ TupleVariation
        V_A_R_C_ V_O_R_G_ V_V_A_R_ _a_n_k_r _b_s_l_n _c_m_a_p _c_v_t _f_p_g_m _f_v_a_r _g_a_s_p
        _g_l_y_f _g_v_a_r _h_d_m_x _h_e_a_d _h_h_e_a _h_m_t_x _k_e_r_n _l_c_a_r _l_o_c_a _m_a_x_p
        _n_a_m_e _o_p_b_d _p_o_s_t _p_r_e_p _p_r_o_p _s_b_i_x _v_m_t_x otBase otConverters otData
        otDataSchema otTables otTraverse sbixGlyph sbixStrike ttProgram
"""
FONTTOOLS_MODULES = frozenset(
    FONTTOOLS_TEXT.split() + [f"ttLib.tables.{table}" for table in FONTTOOLS_TABLES.split()]
)
# Stripe: the library and API v1's object classes (a response names the class it needs)
# stay; of the services (loaded when the client's attribute is first read) only the ones
# stripe_gateway.py calls, and of the product folders only Checkout and what the client
# itself imports from API v2.
STRIPE_SERVICES = frozenset(
    {
        "stripe/_checkout_service.py",
        "stripe/checkout/_session_service.py",
        "stripe/_payment_intent_service.py",
        "stripe/_refund_service.py",
        "stripe/_oauth_service.py",
    }
)
STRIPE_FOLDERS = ("stripe/checkout/", "stripe/data/")
# pyx12 (reading 835 remittances): of its maps only the 835 of 5010 and what every map
# loads with it (the map index, the 5010 envelope, the code lists and data elements); of
# its modules those the X12ContextReader loads (not its XML, HTML, 997/999 and document
# writers).
PYX12_MAPS = frozenset(
    f"pyx12/map/{name}"
    for name in (
        "maps.xml",
        "835.5010.X221.A1.xml",
        "x12.control.00501.xml",
        "codes.xml",
        "dataele.xml",
    )
)
# Modules compiled without their docstrings, which nothing reads at run time (the
# command line's help is for the local `portal` command; none of these libraries' sources
# mentions __doc__ or inspect's getdoc: Stripe's are most of its size). fontTools' modules
# are, but those whose source reads a __doc__ (its command lines' help, varLib's error
# messages, which are their classes' docstrings).
WITHOUT_DOCSTRINGS = (
    "fontTools/",
    "portal/",
    "functions/",
    "pyx12/",
    "stripe/",
    "fpdf/",
    "babel/",
    "jinja2/",
    "wtforms/",
    "flask_wtf/",
    "segno/",
    "itsdangerous/",
    "markupsafe/",
)
PYX12_UNUSED = frozenset(
    f"pyx12/{name}.py"
    for name in [
        "decorators",
        "errh_json",
        "errh_xml",
        "error_997",
        "error_999",
        "error_debug",
        "error_html",
        "error_visitor",
        "map_override",
        "x12metadata",
        "x12n_document",
        "x12xml",
        "x12xml_simple",
        "xmlwriter",
        "xmlx12_simple",
    ]
)
STRIPE_V2 = frozenset({"stripe/v2/core/__init__.py", "stripe/v2/core/_event.py"})
LEFT_OUT = (
    # Typed dicts that only type checkers read (stripe imports them under TYPE_CHECKING).
    "stripe/params/",
    # Zappa's deploy-time command line (it imports what the exclude list leaves out), its
    # certificate tool and its asynchronous tasks (the handler imports neither).
    "zappa/cli.py",
    "zappa/core.py",
    "zappa/letsencrypt.py",
    "zappa/asynchronous.py",
    # Babel's catalog tools (pybabel: make translations runs before zipping) and the
    # formats the pages never use (units, lists, language lookups).
    "babel/messages/",
    "babel/units.py",
    "babel/lists.py",
    "babel/languages.py",
    # pytz's own time zone database: Flask-Babel imports pytz, but the portal formats
    # times with zoneinfo (tzdata) and never asks Flask-Babel for a time zone.
    "pytz/zoneinfo/",
    # Werkzeug's interactive debugger: never on in Lambda (Flask loads it only to debug).
    "werkzeug/debug/",
    # WTForms' catalog sources and notes (its .mo files of the shipped languages stay).
    "wtforms/locale/wtforms.pot",
    "wtforms/locale/README.md",
)
# The time zones of US practices (PORTAL_TIMEZONE): the Americas, the Pacific (Hawaii,
# Guam, American Samoa), the US and Etc aliases and the top-level names (UTC, EST5EDT...).
# docs/deployment.md says how to ship another area.
TIME_ZONE_AREAS = frozenset({"America", "Pacific", "US", "Etc"})
# The languages the portal ships: English and each with a catalog in translations/.
SHIPPED_LANGUAGES = frozenset(
    {"en", *(p.parent.name for p in (ROOT / "translations").glob("*/LC_MESSAGES"))}
)
# C sources, stubs, translations' sources (gettext reads the .mo files); compiled twins of
# pure-Python modules (fontTools' Cython ones, e.g. misc/bezierTools.py, and
# charset_normalizer's mypyc ones): the Python ones are loaded instead, fast enough for a
# statement's few glyphs and for the odd response without a charset.
LEFT_OUT_SUFFIXES = (".c", ".pyx", ".pxd", ".pyi", ".po")
COMPILED_TWINS = ("fontTools/", "charset_normalizer/")


def runtime_version(stage: str) -> tuple[int, int]:
    """(3, 11) for "python3.11": the stage's runtime, following `extends`."""
    settings = json.loads((ROOT / "zappa_settings.json").read_text())
    config = settings[stage]
    while "runtime" not in config and "extends" in config:
        config = settings[config["extends"]]
    major, minor = config["runtime"].removeprefix("python").split(".")
    return int(major), int(minor)


def module_of(name: str) -> str | None:
    """The dotted module a .py or extension file in the zip is, else None."""
    path = name
    if path.endswith(".py"):
        path = path[:-3]
    elif path.endswith(".so"):
        path = path[:-3].split(".", 1)[0]
    else:
        return None
    return path.removesuffix("/__init__").replace("/", ".")


def left_out(name: str, python_files: set[str]) -> bool:
    """Whether the zip entry is something the portal never loads."""
    if name.endswith(".dist-info/RECORD"):
        return True  # the list of installed files, for pip: nothing reads it at run time
    if ".dist-info/" in name:
        return False
    if name.startswith("tzdata/zoneinfo/") and name.count("/") > 2:
        return name.split("/")[2] not in TIME_ZONE_AREAS
    if name.startswith("wtforms/locale/") and name.count("/") > 2:
        return name.split("/")[2].split("_")[0] not in SHIPPED_LANGUAGES
    if name.startswith(LEFT_OUT) or name.endswith(LEFT_OUT_SUFFIXES):
        return True
    if name.startswith(COMPILED_TWINS) and name.endswith(".so"):
        return name[: -len(".so")].split(".", 1)[0] + ".py" in python_files
    if name.startswith("fontTools/"):
        module = module_of(name)
        if module is None:
            return True  # fontTools' data files are for tools the portal does not run
        return module.removeprefix("fontTools.") not in FONTTOOLS_MODULES
    if name.startswith("stripe/"):
        return stripe_left_out(name)
    if name.startswith("pyx12/map/"):
        return name not in PYX12_MAPS
    return name.startswith("pyx12/scripts/") or name in PYX12_UNUSED


def stripe_left_out(name: str) -> bool:
    if name.endswith("_service.py"):
        return name not in STRIPE_SERVICES
    if name.count("/") == 1 or name.startswith(STRIPE_FOLDERS):
        return False
    if name.startswith("stripe/v2/"):
        return name.count("/") > 2 and name not in STRIPE_V2
    return True


def without_docstrings(tree: ast.Module) -> ast.Module:
    """The module without its docstrings (asserts and line numbers kept)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass(lineno=first.lineno, col_offset=0)]
    return tree


def bytecode(name: str, source: bytes) -> bytes:
    """The unchecked-hash .pyc of a module, named as it will lie in the task root."""
    tree: str | bytes | ast.Module = source
    if name.startswith(WITHOUT_DOCSTRINGS) and b"__doc__" not in source:
        tree = without_docstrings(ast.parse(source, name))
    code = compile(tree, f"{TASK_ROOT}/{name}", "exec", dont_inherit=True, optimize=0)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def metadata_headers(data: bytes) -> bytes:
    """A distribution's METADATA without its long description (the README after the
    headers): importlib.metadata reads only the headers (name, version, requirements)."""
    headers, _, _ = data.partition(b"\n\n")
    return headers + b"\n"


def dataclass_code(folder: Path) -> bytes:
    """portal/dataclass_code.marshal: the code of the methods @dataclass writes for the
    portal's classes, compiled by this interpreter (the runtime's) in a child process that
    imports the project's modules."""
    out = folder / DATACLASS_CODE.rsplit("/", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PYTHONPATH"] = str(ROOT)
    record = "import sys\nfrom pathlib import Path\nfrom portal.dataclass_code import record\n"
    record += "record(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", record, str(out)], cwd=folder, env=env, check=True)
    return out.read_bytes()


def finish(path: Path) -> tuple[int, int, int]:
    """Rewrite the zip in place: (modules compiled, entries left out, bytes after)."""
    compiled = dropped = 0
    partial = path.with_name(path.name + ".partial")
    with (
        tempfile.TemporaryDirectory() as scratch,
        zipfile.ZipFile(path) as source,
        zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        python_files = {n for n in source.namelist() if n.endswith(".py")}
        for info in source.infolist():
            name = info.filename
            if left_out(name, python_files):
                dropped += 1
                continue
            data = source.read(info)
            if name.endswith(".py") and ".dist-info/" not in name:
                out = zipfile.ZipInfo(name + "c", date_time=info.date_time)
                out.external_attr = info.external_attr
                data = bytecode(name, data)
                compiled += 1
            elif name.endswith(".dist-info/METADATA"):
                out, data = info, metadata_headers(data)
            else:
                out = info
            out.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(out, data, compresslevel=9)
        out = zipfile.ZipInfo(DATACLASS_CODE, date_time=info.date_time)
        out.external_attr = 0o644 << 16
        out.compress_type = zipfile.ZIP_DEFLATED
        target.writestr(out, dataclass_code(Path(scratch)), compresslevel=9)
    os.replace(partial, path)
    return compiled, dropped, path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    wanted = runtime_version(args.stage)
    if sys.version_info[:2] != wanted:
        sys.exit(
            f"bytecode must be compiled by the runtime's Python {wanted[0]}.{wanted[1]}, "
            f"not {sys.version.split()[0]} ({sys.executable})"
        )
    compiled, dropped, size = finish(args.zip)
    print(f"{args.zip}: {compiled} modules compiled, {dropped} files left out, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
