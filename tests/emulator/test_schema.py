"""The XSD the emulator serves (xnat_emulator/schemas/xnat.xsd) and the module that reads it.

"Real schema" below means XNAT's own data model, NrgXnat/xnat-web
src/main/resources/schemas/xnat/xnat.xsd @542ad929 (XNAT 1.8 line). Our file is smaller but must
agree with it on type names, inheritance, element/attribute placement, field order and value
types; its deliberate omissions are listed at the top of the XSD (no ``custom_fields``: XNAT puts
that xdat:jsonb element last in projectData, subjectData, experimentData and imageScanData).
"""

from __future__ import annotations

import importlib.util
import io
import logging

import pytest
from lxml import etree

from xnat_emulator.schema import FieldPath, Step, load_schema, schema_text

XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="module")
def schema():
    return load_schema()


# --------------------------------------------------------------------------- (a) types and inheritance

# type -> its base chain in the real schema (complexContent/extension), the type itself first.
EXPECTED_CHAINS = {
    "xnat:projectData": [],
    "xnat:investigatorData": [],
    "xnat:subjectData": [],
    "xnat:abstractSubjectMetadata": [],
    "xnat:abstractDemographicData": [],
    "xnat:demographicData": ["xnat:abstractDemographicData"],
    "xnat:experimentData": [],
    "xnat:genericData": ["xnat:experimentData"],
    "xnat:abstractProjectAsset": ["xnat:genericData", "xnat:experimentData"],
    "xnat:subjectAssessorData": ["xnat:experimentData"],
    "xnat:subjectVariablesData": ["xnat:subjectAssessorData", "xnat:experimentData"],
    "xnat:imageSessionData": ["xnat:subjectAssessorData", "xnat:experimentData"],
    "xnat:derivedData": ["xnat:experimentData"],
    "xnat:imageAssessorData": ["xnat:derivedData", "xnat:experimentData"],
    "xnat:mrAssessorData": ["xnat:imageAssessorData", "xnat:derivedData", "xnat:experimentData"],
    "xnat:petAssessorData": ["xnat:imageAssessorData", "xnat:derivedData", "xnat:experimentData"],
    "xnat:qcAssessmentData": ["xnat:mrAssessorData", "xnat:imageAssessorData", "xnat:derivedData",
                              "xnat:experimentData"],
    "xnat:qcManualAssessorData": ["xnat:imageAssessorData", "xnat:derivedData", "xnat:experimentData"],
    "xnat:imageScanData": [],
    "xnat:reconstructedImageData": [],
    "xnat:abstractResource": [],
    "xnat:resource": ["xnat:abstractResource"],
    "xnat:resourceCatalog": ["xnat:resource", "xnat:abstractResource"],
    "xnat:imageResource": ["xnat:resource", "xnat:abstractResource"],
    "xnat:resourceSeries": ["xnat:abstractResource"],
    "xnat:imageResourceSeries": ["xnat:resourceSeries", "xnat:abstractResource"],
    "xnat:dicomSeries": ["xnat:abstractResource"],
    "xnat:fieldDefinitionGroup": [],
    "xnat:datatypeProtocol": ["xnat:abstractProtocol"],
    "xnat:studyProtocol": ["xnat:abstractProtocol"],
}
# Every session type of the real schema extends imageSessionData; every scan type imageScanData.
SESSION_TYPES = ["mr", "pet", "petmr", "ct", "otherDicom", "us", "xa", "cr", "dx", "mg", "nm", "rt", "sr",
                 "ecg", "eeg", "meg", "eps", "es", "esv", "gm", "gmv", "hd", "io", "op", "opt", "rf", "rg",
                 "sm", "xa3D", "xc", "xcv", "dx3DCraniofacial"]
SCAN_TYPES = ["mr", "pet", "ct", "otherDicom", "sc", "us", "xa", "cr", "dx", "mg", "nm", "rtImage", "sr",
              "seg", "mrs", "ecg", "eeg", "meg", "eps", "es", "esv", "gm", "gmv", "hd", "io", "op", "opt",
              "rf", "rg", "sm", "xa3D", "xc", "xcv", "dx3DCraniofacial", "voiceAudio"]
for _m in SESSION_TYPES:
    EXPECTED_CHAINS[f"xnat:{_m}SessionData"] = ["xnat:imageSessionData", "xnat:subjectAssessorData",
                                                 "xnat:experimentData"]
for _m in SCAN_TYPES:
    EXPECTED_CHAINS[f"xnat:{_m}ScanData"] = ["xnat:imageScanData"]


@pytest.mark.parametrize("xsi_type", sorted(EXPECTED_CHAINS))
def test_required_type_has_real_base_chain(schema, xsi_type):
    """Each required type exists with the real schema's inheritance chain (real xnat.xsd extensions)."""
    assert schema.has_type(xsi_type)
    assert schema.ancestors(xsi_type) == [xsi_type] + EXPECTED_CHAINS[xsi_type]


def test_no_invented_session_types(schema):
    """Only session types that exist in the real schema are offered (it has no segSessionData)."""
    sessions = [t for t in schema.type_names() if schema.is_a(t, "xnat:imageSessionData")]
    assert sorted(sessions) == sorted(["xnat:imageSessionData"] + [f"xnat:{m}SessionData" for m in SESSION_TYPES])
    assert not schema.has_type("xnat:segSessionData")


@pytest.mark.parametrize("element, xsi_type", [
    ("xnat:Project", "xnat:projectData"), ("xnat:Subject", "xnat:subjectData"),
    ("xnat:MRSession", "xnat:mrSessionData"), ("xnat:PETSession", "xnat:petSessionData"),
    ("xnat:PETMRSession", "xnat:petmrSessionData"), ("xnat:CTSession", "xnat:ctSessionData"),
    ("xnat:OtherDicomSession", "xnat:otherDicomSessionData"), ("xnat:MRScan", "xnat:mrScanData"),
    ("xnat:PETScan", "xnat:petScanData"), ("xnat:RTImageScan", "xnat:rtImageScanData"),
    ("xnat:SegScan", "xnat:segScanData"), ("xnat:QCAssessment", "xnat:qcAssessmentData"),
    ("xnat:QCManualAssessment", "xnat:qcManualAssessorData"), ("xnat:ResourceCatalog", "xnat:resourceCatalog"),
    ("xnat:ReconstructedImage", "xnat:reconstructedImageData"), ("xnat:SubjectVariables", "xnat:subjectVariablesData"),
])
def test_global_elements_match_real_names(schema, element, xsi_type):
    """Root element names of documents are the real schema's global elements (ItemXMLRepresentation roots)."""
    assert schema.canonical_type(element) == xsi_type
    assert schema.element_for_type(xsi_type) == element


def test_type_name_lookup_rules(schema):
    """Type names resolve case-insensitively to canonical spelling; unknown ones are None (XNAT: 400)."""
    assert schema.canonical_type("xnat:mrsessiondata") == "xnat:mrSessionData"
    assert schema.canonical_type("XNAT:MRSESSION") == "xnat:mrSessionData"
    assert schema.canonical_type("mrScanData") == "xnat:mrScanData"
    assert schema.canonical_type("xnat:noSuchData") is None
    assert schema.has_type("xnat:MRSessionData") and not schema.has_type("xnat:imageSessionData/scanner")
    # No global element: the root element is named after the type.
    assert schema.element_for_type("xnat:imageSessionData") == "xnat:imageSessionData"
    assert schema.element_for_type("xnat:fieldDefinitionGroup") == "xnat:FieldDefinitionGroup"


def test_is_a_and_subtypes(schema):
    """is_a is reflexive and follows extension; subtypes lists the type first, then its descendants."""
    assert schema.is_a("xnat:mrSessionData", "xnat:mrSessionData")
    assert schema.is_a("xnat:MRSession", "xnat:subjectAssessorData")
    assert not schema.is_a("xnat:subjectAssessorData", "xnat:mrSessionData")
    assert not schema.is_a("xnat:nope", "xnat:experimentData")
    subtypes = schema.subtypes("xnat:imageAssessorData")
    assert subtypes[0] == "xnat:imageAssessorData"
    assert set(subtypes) == {"xnat:imageAssessorData", "xnat:mrAssessorData", "xnat:petAssessorData",
                             "xnat:qcAssessmentData", "xnat:qcManualAssessorData"}


def test_type_lists(schema):
    """type_names covers every xnat complex type, data_types only those with a global element."""
    names = schema.type_names()
    assert all(n.startswith("xnat:") for n in names) and len(names) == len(set(names))
    assert {"xnat:imageSessionData", "xnat:abstractResource", "xnat:mrSessionData"} <= set(names)
    data_types = schema.data_types()
    assert "xnat:mrSessionData" in data_types and "xnat:imageSessionData" not in data_types
    assert set(data_types) <= set(names)


# --------------------------------------------------------------------------- (b) field order and types

def _names(items):
    return [i.name for i in items]


# Orders copied from the real xnat.xsd (see module docstring), minus custom_fields.
EXPERIMENT_CHILDREN = ["sharing", "date", "time", "duration", "delay", "note", "investigator", "validation",
                       "resources", "fields", "acquisition_site"]
IMAGE_SESSION_CHILDREN = ["regions", "scanner", "operator", "prearchivePath", "scans", "reconstructions",
                          "assessors", "dcmAccessionNumber", "dcmPatientId", "dcmPatientName",
                          "dcmPatientBirthDate", "dcmPatientWeight"]
IMAGE_SCAN_CHILDREN = ["sharing", "image_session_ID", "note", "quality", "condition", "series_description",
                       "series_class", "documentation", "scanner", "modality", "frames", "operator", "file",
                       "validation", "startTime", "start_date", "requestedProcedureDescription", "protocolName",
                       "bodyPartExamined"]


def test_subject_field_order(schema):
    """subjectData children and attributes are in the real schema's order (real xnat.xsd subjectData)."""
    assert _names(schema.children("xnat:subjectData")) == [
        "sharing", "resources", "investigator", "demographics", "metadata", "addID", "fields", "experiments"]
    assert _names(schema.attributes("xnat:subjectData")) == ["ID", "project", "group", "label", "src", "initials"]


def test_project_field_order(schema):
    """projectData children and attributes follow the real schema (real xnat.xsd projectData)."""
    assert _names(schema.children("xnat:projectData")) == [
        "name", "type", "description", "keywords", "aliases", "publications", "resources", "studyProtocol",
        "PI", "investigators", "fields"]
    assert _names(schema.attributes("xnat:projectData")) == ["ID", "secondary_ID", "active"]


def test_mr_session_field_order_is_inherited_first(schema):
    """mrSessionData = experimentData + subjectAssessorData + imageSessionData + own, in that order."""
    assert _names(schema.children("xnat:mrSessionData")) == (
        EXPERIMENT_CHILDREN + ["subject_ID", "age"] + IMAGE_SESSION_CHILDREN
        + ["coil", "fieldStrength", "marker", "stabilization"])
    assert _names(schema.attributes("xnat:mrSessionData")) == [
        "ID", "project", "visit_id", "visit", "version", "original", "protocol", "label",
        "session_type", "modality", "UID", "study_id"]


def test_mr_scan_field_order(schema):
    """mrScanData children and its parameters block follow the real schema (real xnat.xsd mrScanData)."""
    assert _names(schema.children("xnat:mrScanData")) == IMAGE_SCAN_CHILDREN + [
        "coil", "fieldStrength", "marker", "stabilization", "fileNameUUID", "parameters", "dcmValidation"]
    assert _names(schema.attributes("xnat:mrScanData")) == ["ID", "type", "UID", "project"]
    parameters = {c.name: c for c in schema.children("xnat:mrScanData")}["parameters"].type
    assert _names(schema.children(parameters)) == [
        "voxelRes", "orientation", "subjectPosition", "fov", "matrix", "partitions", "tr", "te", "deltaTE", "ti",
        "flip", "sequence", "origin", "imageType", "scanSequence", "seqVariant", "scanOptions", "acqType",
        "readoutSampleSpacing", "coil", "coilElements", "dtiAcqCount", "pixelBandwidth", "echoSpacing",
        "phaseEncodingDirection", "acqTime", "diffusion", "addParam", "inPlanePhaseEncoding", "pmc"]
    add_param = {c.name: c for c in schema.children(parameters)}["addParam"]
    assert add_param.type == "xnat:addField" and add_param.multiple


def test_demographics_field_order(schema):
    """demographicData children follow the real schema (dob/yob/age choice first)."""
    assert _names(schema.children("xnat:demographicData")) == [
        "dob", "yob", "age", "gender", "handedness", "ses", "employment", "education", "educationDesc", "race",
        "race2", "race3", "race4", "race5", "race6", "ethnicity", "weight", "height", "gestational_age",
        "post_menstrual_age", "birth_weight"]


def test_resource_attributes(schema):
    """resourceCatalog carries abstractResource's and resource's attributes (real xnat.xsd)."""
    attrs = {a.name: a.type for a in schema.attributes("xnat:resourceCatalog")}
    assert list(attrs) == ["label", "file_count", "file_size", "URI", "format", "description", "content",
                           "cachePath"]
    assert attrs["file_count"] == "xs:integer" and attrs["file_size"] == "xs:long"
    assert _names(schema.children("xnat:resourceCatalog")) == ["note", "tags", "provenance"]


def test_children_kinds_and_multiplicity(schema):
    """Complex children carry their type, repeated ones are multiple (real schema maxOccurs)."""
    subject = {c.name: c for c in schema.children("xnat:subjectData")}
    assert subject["demographics"].type == "xnat:abstractDemographicData"
    assert not subject["demographics"].multiple and subject["addID"].multiple
    experiments = schema.children(subject["experiments"].type)
    assert [(c.name, c.type, c.multiple) for c in experiments] == [
        ("experiment", "xnat:subjectAssessorData", True)]
    session = {c.name: c for c in schema.children("xnat:imageSessionData")}
    assert schema.children(session["scans"].type)[0].type == "xnat:imageScanData"
    assert schema.children(session["assessors"].type)[0].type == "xnat:imageAssessorData"
    assert schema.children(session["reconstructions"].type)[0].name == "reconstructedImage"
    scan_file = {c.name: c for c in schema.children("xnat:imageScanData")}["file"]
    assert scan_file.type == "xnat:abstractResource" and scan_file.multiple
    # scanner: text plus manufacturer/model attributes.
    scanner = session["scanner"].type
    assert schema.simple_content(scanner) == "xs:string"
    assert _names(schema.attributes(scanner)) == ["manufacturer", "model"]
    assert schema.children(scanner) == []


@pytest.mark.parametrize("xsi_type, path, leaf", [
    ("xnat:mrSessionData", "age", "xs:float"),  # subjectAssessorData/age
    ("xnat:subjectData", "demographics[@xsi:type=xnat:demographicData]/age", "xs:integer"),
    ("xnat:subjectData", "demographics[@xsi:type=xnat:demographicData]/dob", "xs:date"),
    ("xnat:subjectData", "demographics[@xsi:type=xnat:demographicData]/weight", "xs:float"),
    ("xnat:mrSessionData", "date", "xs:date"),
    ("xnat:mrSessionData", "time", "xs:time"),
    ("xnat:mrSessionData", "duration", "xs:duration"),
    ("xnat:projectData", "active", "xs:boolean"),
    ("xnat:mrScanData", "frames", "xs:integer"),
    ("xnat:mrScanData", "parameters/voxelRes/x", "xs:float"),
    ("xnat:mrScanData", "parameters/fov/x", "xs:integer"),
    ("xnat:mrScanData", "parameters/pixelBandwidth", "xs:double"),
    ("xnat:mrScanData", "dcmValidation/status", "xs:boolean"),
    ("xnat:petScanData", "parameters/orientation", "xs:integer"),
    ("xnat:petScanData", "parameters/frames/frame/number", "xs:int"),
    ("xnat:petSessionData", "tracer/dose", "xs:float"),
    ("xnat:petSessionData", "start_time", "xs:dateTime"),
    ("xnat:ctScanData", "parameters/kvp", "xs:float"),
    ("xnat:ctScanData", "parameters/rescale/slope", "xs:string"),  # untyped in XNAT too
    ("xnat:experimentData", "version", "xs:integer"),
])
def test_value_types_follow_real_schema(schema, xsi_type, path, leaf):
    """Leaf value types are the real schema's (e.g. a float field set to 42 reads back 42.0)."""
    resolved = schema.resolve(xsi_type, path)
    assert resolved is not None and resolved.leaf_type == leaf


# --------------------------------------------------------------------------- (c) resolve()

def test_resolve_attribute_and_element(schema):
    """label/ID are attributes, date an element (real schema placement)."""
    assert schema.resolve("xnat:subjectData", "label") == FieldPath((Step("label", "attribute", None),), "xs:string")
    assert schema.resolve("xnat:mrSessionData", "ID").steps == (Step("ID", "attribute", None),)
    assert schema.resolve("xnat:mrSessionData", "date") == FieldPath((Step("date", "element", None),), "xs:date")


def test_resolve_scanner_text_and_attribute(schema):
    """scanner is an element with text (xs:string) and manufacturer/model attributes."""
    scanner = schema.resolve("xnat:mrSessionData", "scanner")
    assert scanner == FieldPath((Step("scanner", "element", "xnat:imageSessionData/scanner"),), "xs:string")
    model = schema.resolve("xnat:mrSessionData", "scanner/model")
    assert [(s.name, s.kind) for s in model.steps] == [("scanner", "element"), ("model", "attribute")]
    assert model.leaf_type == "xs:string"


def test_resolve_type_prefix(schema):
    """A leading type (the type itself, an ancestor, any case, or element name) is stripped (pyxnat attrs)."""
    expected = schema.resolve("xnat:mrSessionData", "age")
    assert schema.resolve("xnat:mrSessionData", "xnat:mrSessionData/age") == expected
    assert schema.resolve("xnat:mrSessionData", "xnat:subjectAssessorData/age") == expected
    assert schema.resolve("xnat:mrSessionData", "xnat:mrsessiondata/age") == expected
    assert schema.resolve("xnat:mrSessionData", "xnat:MRSession/age") == expected
    id_path = schema.resolve("xnat:mrSessionData", "xnat:subjectassessordata/id")
    assert id_path.steps == (Step("ID", "attribute", None),)
    assert schema.resolve("xnat:subjectData", "xnat:subjectData/label").steps == (Step("label", "attribute", None),)
    # A type that is not the object's type or an ancestor does not apply.
    assert schema.resolve("xnat:mrSessionData", "xnat:subjectData/label") is None
    assert schema.resolve("xnat:mrSessionData", "xnat:mrSessionData") is None


def test_resolve_xsi_type_predicate(schema):
    """demographics[@xsi:type=xnat:demographicData]/gender enters the subtype (XMLPathShortcuts form)."""
    resolved = schema.resolve("xnat:subjectData", "xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender")
    assert resolved == FieldPath((Step("demographics", "element", "xnat:demographicData"),
                                  Step("gender", "element", None)), "xs:string")
    # Without a predicate the single concrete subtype of the empty abstract type is used.
    assert schema.resolve("xnat:subjectData", "demographics/gender") == resolved
    # A predicate type must derive from the declared type.
    assert schema.resolve("xnat:subjectData", "demographics[@xsi:type=xnat:mrScanData]/gender") is None


def test_resolve_custom_field(schema):
    """fields/field[name=foo]/field is the text of <xnat:field name="foo"> (XNAT custom field xpath)."""
    for xsi_type, owner in [("xnat:subjectData", "xnat:subjectData"), ("xnat:projectData", "xnat:projectData"),
                            ("xnat:mrSessionData", "xnat:experimentData")]:
        resolved = schema.resolve(xsi_type, f"{xsi_type}/fields/field[name=myfield]/field")
        assert resolved == FieldPath((Step("fields", "element", f"{owner}/fields"),
                                      Step("field", "element", f"{owner}/fields/field", ("name", "myfield"))),
                                     "xs:string")
    assert schema.resolve("xnat:subjectData", "fields/field[@name='my field']/field").steps[1].predicate == (
        "name", "my field")
    assert schema.resolve("xnat:subjectData", "fields/field[nosuchattr=x]/field") is None


def test_resolve_scan_parameters(schema):
    """Scan parameters, including addParam[name=..]/addField as pyxnat's Scan.set_param sends it."""
    tr = schema.resolve("xnat:mrScanData", "parameters/tr")
    assert [s.name for s in tr.steps] == ["parameters", "tr"] and tr.leaf_type == "xs:float"
    voxel = schema.resolve("xnat:mrScanData", "parameters/voxelRes/z")
    assert voxel.steps[1] == Step("voxelRes", "element", "xnat:mrScanData/parameters/voxelRes")
    assert voxel.steps[2] == Step("z", "attribute", None)
    param = schema.resolve("xnat:mrScanData", "xnat:mrScanData/parameters/addParam[name=foo]/addField")
    assert param.steps[-1] == Step("addParam", "element", "xnat:addField", ("name", "foo"))
    assert param.leaf_type == "xs:string"


def test_resolve_provenance(schema):
    """provenance/processStep/... paths resolve (pyxnat Provenance.get columns)."""
    program = schema.resolve("xnat:qcAssessmentData", "xnat:qcAssessmentData/provenance/processStep/program")
    assert [s.name for s in program.steps] == ["provenance", "processStep", "program"]
    assert program.leaf_type == "xs:string"
    version = schema.resolve("xnat:qcAssessmentData", "provenance/processStep/program_version")
    assert [(s.name, s.kind) for s in version.steps][-2:] == [("program", "element"), ("version", "attribute")]


def test_resolve_case_insensitive_and_unknown(schema):
    """Step names match case-insensitively with canonical names returned; unknown paths are None."""
    assert schema.resolve("xnat:mrSessionData", "SCANNER/Model").steps[1].name == "model"
    assert schema.resolve("xnat:mrScanData", "series_description").leaf_type == "xs:string"
    assert schema.resolve("xnat:mrSessionData", "nosuchfield") is None
    assert schema.resolve("xnat:mrSessionData", "date/extra") is None
    assert schema.resolve("xnat:nosuchData", "label") is None
    assert schema.resolve("xnat:mrSessionData", "") is None


def test_resolve_non_leaf_path(schema):
    """A path ending on an element with element content names its complex type instead of an xs: type."""
    assert schema.resolve("xnat:mrScanData", "parameters/voxelRes").leaf_type == "xnat:mrScanData/parameters/voxelRes"


# --------------------------------------------------------------------------- (d) clients read the file

def test_schema_text_is_the_file_and_namespaced(schema):
    """schema_text() is the XSD served at /xapi/schemas/xnat, targeting XNAT's namespace with xs prefix."""
    root = etree.fromstring(schema_text())
    assert root.get("targetNamespace") == "http://nrg.wustl.edu/xnat"
    assert root.nsmap["xnat"] == "http://nrg.wustl.edu/xnat" and root.nsmap["xs"] == XS[1:-1]
    # xnatpy reads namespaces with the regex '<xs:schema([^>]*)>' (xnat/convert_xsd.py).
    assert b"<xs:schema " in schema_text()


def test_pyxnat_lists_project_attributes(schema):
    """pyxnat's attrs() paths for projectData are exactly those pyxnat's attributes_test.test_06 expects."""
    from pyxnat.core.schema import datatype_attributes

    root = etree.fromstring(schema_text())
    assert datatype_attributes(root, "xnat:projectData") == [
        "xnat:projectData/name", "xnat:projectData/type", "xnat:projectData/description",
        "xnat:projectData/keywords", "xnat:projectData/aliases", "xnat:projectData/aliases/alias",
        "xnat:projectData/aliases/alias/None", "xnat:projectData/publications",
        "xnat:projectData/publications/publication", "xnat:projectData/resources",
        "xnat:projectData/resources/resource", "xnat:projectData/studyProtocol", "xnat:projectData/PI",
        "xnat:projectData/investigators", "xnat:projectData/investigators/investigator",
        "xnat:projectData/fields", "xnat:projectData/fields/field", "xnat:projectData/fields/field/None"]


class _OfflineSession:
    """Just enough of an XNATSession for xnatpy's parse_schemas_17: the emulator lists only 'xnat'."""

    class _Response:
        def __init__(self, text):
            self.text = text
            self.status_code = 200

    def __init__(self, logger):
        self.logger = logger

    def get_json(self, uri):
        assert uri == "/xapi/schemas"
        return ["xnat"]

    def get(self, uri, headers=None):
        assert uri == "/xapi/schemas/xnat"
        return self._Response(schema_text().decode("utf-8"))


class _VerboseLogger(logging.LoggerAdapter):
    """xnatpy calls logger.verbose(); its connect() adds that to logging.Logger, we adapt instead."""

    def verbose(self, message, *args, **kwargs):
        self.debug(message, *args, **kwargs)


@pytest.fixture(scope="module")
def xnatpy_model():
    """xnatpy's class module built from our XSD the way xnat.build_model does, without a server."""
    import xnat
    from xnat.convert_xsd import SchemaParser

    logger = _VerboseLogger(logging.getLogger("test_schema.xnatpy"), {})
    parser = SchemaParser(logger=logger)
    xnat.parse_schemas_17(parser, _OfflineSession(logger), extension_types=True)
    code = io.StringIO()
    parser.write(code_file=code)
    source = code.getvalue()
    compile(source, "<xnatpy model>", "exec")
    loader = xnat.StringLoader(source)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("xnat.generated.model_test", loader))
    loader.exec_module(module)
    missing = []
    for cls in parser.class_list.values():
        if not (cls.name is None or (cls.base_class is not None and cls.base_class.startswith("xs:"))):
            cls_obj = getattr(module, cls.writer.python_name, None)
            if cls_obj is None:
                missing.append(cls.name)
            else:
                cls_obj.__register__(module.XNAT_CLASS_LOOKUP)
    return module, parser, missing


def test_xnatpy_builds_classes(xnatpy_model):
    """xnatpy 0.8.1 parses the XSD, and the generated code compiles and defines the client classes."""
    module, parser, missing = xnatpy_model
    assert missing == []
    assert parser.unknown_tags == set()
    for name in ["ProjectData", "SubjectData", "DemographicData", "MrSessionData", "PetSessionData",
                 "CtSessionData", "OtherDicomSessionData", "MrScanData", "PetScanData", "CtScanData",
                 "OtherDicomScanData", "QcAssessmentData", "ResourceCatalog"]:
        assert isinstance(getattr(module, name), type), name


def test_xnatpy_applies_its_mixins(xnatpy_model):
    """xnatpy's mixins land on the generated classes (xnat/mixin.py), with real display identifiers."""
    from xnat import mixin

    module, _, _ = xnatpy_model
    assert issubclass(module.SubjectData, mixin.SubjectData) and hasattr(module.SubjectData, "experiments")
    assert issubclass(module.MrSessionData, mixin.ImageSessionData)
    assert hasattr(module.ImageSessionData, "scans") and hasattr(module.ImageSessionData, "download_dir")
    assert issubclass(module.MrScanData, mixin.ImageScanData)
    assert issubclass(module.ResourceCatalog, mixin.AbstractResource)
    assert issubclass(module.DemographicData, mixin.DemographicData)
    assert module.SubjectData._DISPLAY_IDENTIFIER == "label"
    assert module.ExperimentData._DISPLAY_IDENTIFIER == "label"
    assert module.ImageScanData._DISPLAY_IDENTIFIER == "ID"
    for name in ["ProjectData", "SubjectData", "ExperimentData"]:  # custom variables ("fields/field")
        assert getattr(module, name)._HAS_FIELDS is True


def test_xnatpy_knows_every_emulated_type(schema, xnatpy_model):
    """Every xsi:type the emulator may report is in xnatpy's class lookup (session.create_object)."""
    module, _, _ = xnatpy_model
    assert set(schema.type_names()) <= set(module.XNAT_CLASS_LOOKUP)
