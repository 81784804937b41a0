"""The report tables as files: CSV in the layouts statisticians know, and SDMX-CSV 2.0 with our DSD. Pure.

The data structure definition (SDMX-ML 2.1) is shipped as
``data/credverify-flows-dsd.xml``; ``structure_message()`` is what wrote it, and
a test keeps the two the same. SDMX-CSV 2.0 rows name the dataflow they belong
to (``STRUCTURE=dataflow``, ``STRUCTURE_ID=CREDVERIFY:DF_...(1.0)``), so any
SDMX tool that reads the DSD reads them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

import pycountry

from credverify.flowstats.export import FLAGS, spreadsheet_safe
from credverify.flowstats.reports import FOREIGN_TRAINED_INFLOW, MEASURE_LABELS, RETURN_INFLOW, ReportRow
from credverify.flowstats.tables import SAFEGUARDS, TOTAL, UNKNOWN

AGENCY = "CREDVERIFY"
VERSION = "1.0"
DSD_ID = "DSD_HWF_FLOWS"
DATAFLOWS = {
    "oecd": ("DF_OECD_HWM_INFLOWS", "Inflows of foreign-trained doctors and nurses by country of training "
                                    "(OECD Health Workforce Migration layout)"),
    "who": ("DF_WHO_CODE_FLOWS", "International flows of health personnel (WHO Global Code national "
                                 "reporting instrument layout)"),
}
STRUCTURE_FILE = "data/credverify-flows-dsd.xml"
# A fixed preparation time: the shipped file is reproduced byte for byte.
PREPARED = "2026-12-01T00:00:00"
OCCUPATIONS = {
    "doctors": ("DOCTORS", "Medical doctors (ISCO-08 2211, 2212)"),
    "nurses": ("NURSES", "Nursing personnel (ISCO-08 2221, 3221)"),
    "midwives": ("MIDWIVES", "Midwifery personnel (ISCO-08 2222, 3222)"),
    "dentists": ("DENTISTS", "Dentists (ISCO-08 2261)"),
    "pharmacists": ("PHARMACISTS", "Pharmacists (ISCO-08 2262)"),
}
SPECIAL_AREAS = {
    TOTAL: "All countries of training abroad",
    UNKNOWN: "Country of training not known",
    SAFEGUARDS: "Countries on the WHO Health Workforce Support and Safeguards List",
}
OBS_STATUS = {"A": "Normal value", "E": "Estimated value", "P": "Provisional value"}
CONF_STATUS = {"F": "Free", "C": "Confidential statistical information"}
SDMX_COLUMNS = ("STRUCTURE", "STRUCTURE_ID", "ACTION", "MEASURE", "REF_AREA", "COUNTRY_TRAINING", "OCCUPATION",
                "TIME_PERIOD", "OBS_VALUE", "OBS_STATUS", "CONF_STATUS")
OECD_COLUMNS = ("VAR", "Variable", "UNIT", "Measure", "COU", "Country", "CO2", "Country of training", "YEA", "Year",
                "Value", "Flag Codes", "Flags")
WHO_COLUMNS = ("REPORTING_COUNTRY", "Reporting country", "YEAR", "Year", "OCCUPATION", "Occupation", "INDICATOR",
               "Indicator", "COUNTRY_OF_TRAINING", "Country of training", "Value", "Flag Codes", "Flags")


def obs_status(row: ReportRow) -> str:
    return "E" if row.estimated else "P" if row.provisional else "A"


def flag_codes(row: ReportRow) -> str:
    """Eurostat's flags, as the statistics export uses them: c confidential, e estimated, p provisional."""
    return ("c" if row.value is None else "") + ("e" if row.estimated else "") + ("p" if row.provisional else "")


def area_label(code: str) -> str:
    if code in SPECIAL_AREAS:
        return SPECIAL_AREAS[code]
    country = pycountry.countries.get(alpha_2=code)
    return str(country.name) if country is not None else code


def alpha3(code: str) -> str:
    """Return the ISO 3166-1 alpha-3 code OECD.Stat uses for countries (special codes unchanged)."""
    country = pycountry.countries.get(alpha_2=code) if code not in SPECIAL_AREAS else None
    return str(country.alpha_3) if country is not None else code


def _write(columns: tuple[str, ...], records: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: spreadsheet_safe(value) for name, value in record.items()} for record in records)
    return out.getvalue()


def _value(row: ReportRow) -> str:
    return "" if row.value is None else str(row.value)


def oecd_csv(rows: Iterable[ReportRow]) -> str:
    """Return the OECD-shaped table: one row per destination, variable, country of training and year."""
    records = []
    for row in rows:
        occupation = "Doctors" if row.occupation == "doctors" else "Nurses"
        codes = flag_codes(row)
        records.append({
            "VAR": "%s_FT_INFLOW" % row.occupation.upper(),
            "Variable": "Foreign-trained %s, annual inflow" % occupation.lower(),
            "UNIT": "PERSMYNB", "Measure": "Number of persons",
            "COU": alpha3(row.destination), "Country": area_label(row.destination),
            "CO2": alpha3(row.training), "Country of training": area_label(row.training),
            "YEA": row.year, "Year": row.year,
            "Value": _value(row), "Flag Codes": codes, "Flags": "; ".join(FLAGS[c] for c in codes),
        })
    return _write(OECD_COLUMNS, records)


def who_csv(rows: Iterable[ReportRow]) -> str:
    """Return the WHO-shaped table: one row per reporting country, year, occupation, indicator and
    country of training."""
    records = []
    for row in rows:
        codes = flag_codes(row)
        occupation_code, occupation_label = OCCUPATIONS[row.occupation]
        records.append({
            "REPORTING_COUNTRY": alpha3(row.destination), "Reporting country": area_label(row.destination),
            "YEAR": row.year, "Year": row.year,
            "OCCUPATION": occupation_code, "Occupation": occupation_label,
            "INDICATOR": row.measure, "Indicator": MEASURE_LABELS[row.measure],
            "COUNTRY_OF_TRAINING": alpha3(row.training), "Country of training": area_label(row.training),
            "Value": _value(row), "Flag Codes": codes, "Flags": "; ".join(FLAGS[c] for c in codes),
        })
    return _write(WHO_COLUMNS, records)


def sdmx_csv(table: str, rows: Iterable[ReportRow]) -> str:
    """Return the rows as SDMX-CSV 2.0 observations of the table's dataflow."""
    dataflow = "%s:%s(%s)" % (AGENCY, DATAFLOWS[table][0], VERSION)
    records = [{
        "STRUCTURE": "dataflow", "STRUCTURE_ID": dataflow, "ACTION": "I",
        "MEASURE": row.measure, "REF_AREA": row.destination, "COUNTRY_TRAINING": row.training,
        "OCCUPATION": OCCUPATIONS[row.occupation][0], "TIME_PERIOD": row.year, "OBS_VALUE": _value(row),
        "OBS_STATUS": obs_status(row), "CONF_STATUS": "C" if row.value is None else "F",
    } for row in rows]
    return _write(SDMX_COLUMNS, records)


# ---- the data structure definition (SDMX-ML 2.1 structure message) ----

def _name(text: str) -> str:
    return '<com:Name xml:lang="en">%s</com:Name>' % escape(text)


def _codelist(identifier: str, name: str, codes: Iterable[tuple[str, str]]) -> str:
    lines = ['<str:Codelist id="%s" agencyID="%s" version="%s">' % (identifier, AGENCY, VERSION), _name(name)]
    lines += ['<str:Code id=%s>%s</str:Code>' % (quoteattr(code), _name(label)) for code, label in codes]
    return "\n".join(lines + ["</str:Codelist>"])


def _ref(identifier: str, *, package: str, cls: str, parent: str | None = None) -> str:
    if parent is not None:
        return ('<Ref id="%s" maintainableParentID="%s" maintainableParentVersion="%s" agencyID="%s" '
                'package="%s" class="%s"/>' % (identifier, parent, VERSION, AGENCY, package, cls))
    return '<Ref id="%s" version="%s" agencyID="%s" package="%s" class="%s"/>' % (
        identifier, VERSION, AGENCY, package, cls)


def _concept(identifier: str) -> str:
    return "<str:ConceptIdentity>%s</str:ConceptIdentity>" % _ref(identifier, package="conceptscheme",
                                                                    cls="Concept", parent="CS_HWF_FLOWS")


def _enumeration(codelist: str) -> str:
    return "<str:LocalRepresentation><str:Enumeration>%s</str:Enumeration></str:LocalRepresentation>" % _ref(
        codelist, package="codelist", cls="Codelist")


CONCEPTS = (
    ("MEASURE", "Measure"), ("REF_AREA", "Destination (reporting) country"),
    ("COUNTRY_TRAINING", "Country of training"), ("OCCUPATION", "Occupation"), ("TIME_PERIOD", "Year"),
    ("OBS_VALUE", "Number of persons"), ("OBS_STATUS", "Observation status"),
    ("CONF_STATUS", "Confidentiality status"),
)
DIMENSIONS = (("MEASURE", "CL_FLOW_MEASURE"), ("REF_AREA", "CL_AREA"), ("COUNTRY_TRAINING", "CL_AREA"),
              ("OCCUPATION", "CL_OCCUPATION"))
ATTRIBUTES = (("OBS_STATUS", "CL_OBS_STATUS"), ("CONF_STATUS", "CL_CONF_STATUS"))


def _codelists() -> list[str]:
    areas = [(c.alpha_2, str(c.name)) for c in sorted(pycountry.countries, key=lambda c: c.alpha_2)]
    return [
        _codelist("CL_AREA", "Countries (ISO 3166-1 alpha-2) and groups", areas + sorted(SPECIAL_AREAS.items())),
        _codelist("CL_CONF_STATUS", "Confidentiality status", CONF_STATUS.items()),
        _codelist("CL_FLOW_MEASURE", "Flow measures", [(FOREIGN_TRAINED_INFLOW, MEASURE_LABELS[FOREIGN_TRAINED_INFLOW]),
                                                       (RETURN_INFLOW, MEASURE_LABELS[RETURN_INFLOW])]),
        _codelist("CL_OBS_STATUS", "Observation status", OBS_STATUS.items()),
        _codelist("CL_OCCUPATION", "Health occupations", OCCUPATIONS.values()),
    ]


def _components() -> list[str]:
    lines = ['<str:DimensionList id="DimensionDescriptor">']
    for position, (identifier, codelist) in enumerate(DIMENSIONS, start=1):
        lines.append('<str:Dimension id="%s" position="%d">%s%s</str:Dimension>' % (
            identifier, position, _concept(identifier), _enumeration(codelist)))
    lines.append('<str:TimeDimension id="TIME_PERIOD" position="%d">%s<str:LocalRepresentation>'
                 '<str:TextFormat textType="ObservationalTimePeriod"/></str:LocalRepresentation></str:TimeDimension>'
                 % (len(DIMENSIONS) + 1, _concept("TIME_PERIOD")))
    lines += ["</str:DimensionList>", '<str:AttributeList id="AttributeDescriptor">']
    for identifier, codelist in ATTRIBUTES:
        lines.append('<str:Attribute id="%s" assignmentStatus="Mandatory">%s%s<str:AttributeRelationship>'
                     '<str:PrimaryMeasure><Ref id="OBS_VALUE"/></str:PrimaryMeasure></str:AttributeRelationship>'
                     '</str:Attribute>' % (identifier, _concept(identifier), _enumeration(codelist)))
    lines += ["</str:AttributeList>", '<str:MeasureList id="MeasureDescriptor">',
              '<str:PrimaryMeasure id="OBS_VALUE">%s</str:PrimaryMeasure>' % _concept("OBS_VALUE"),
              "</str:MeasureList>"]
    return lines


def structure_message() -> str:
    """Return the SDMX-ML 2.1 structure message of the report tables: codelists, concepts, the DSD and
    one dataflow per table."""
    dataflows = ['<str:Dataflow id="%s" agencyID="%s" version="%s">%s<str:Structure>%s</str:Structure>'
                 '</str:Dataflow>' % (identifier, AGENCY, VERSION, _name(name),
                                      _ref(DSD_ID, package="datastructure", cls="DataStructure"))
                 for identifier, name in DATAFLOWS.values()]
    concepts = ['<str:Concept id="%s">%s</str:Concept>' % (identifier, _name(name)) for identifier, name in CONCEPTS]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<mes:Structure xmlns:mes="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
        'xmlns:str="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" '
        'xmlns:com="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">',
        '<mes:Header><mes:ID>CREDVERIFY_HWF_FLOWS</mes:ID><mes:Test>false</mes:Test><mes:Prepared>%s</mes:Prepared>'
        '<mes:Sender id="%s"/></mes:Header>' % (PREPARED, AGENCY),
        "<mes:Structures>",
        "<str:Dataflows>", *dataflows, "</str:Dataflows>",
        "<str:Codelists>", *_codelists(), "</str:Codelists>",
        "<str:Concepts>",
        '<str:ConceptScheme id="CS_HWF_FLOWS" agencyID="%s" version="%s">%s' % (
            AGENCY, VERSION, _name("Concepts of the health-worker flow tables")),
        *concepts, "</str:ConceptScheme>", "</str:Concepts>",
        "<str:DataStructures>",
        '<str:DataStructure id="%s" agencyID="%s" version="%s">%s<str:DataStructureComponents>' % (
            DSD_ID, AGENCY, VERSION, _name("Health-worker flows by country of training")),
        *_components(),
        "</str:DataStructureComponents></str:DataStructure>", "</str:DataStructures>",
        "</mes:Structures>", "</mes:Structure>",
    ]
    return "\n".join(parts) + "\n"
