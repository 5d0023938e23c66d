"""XNAT's field shortcuts (``XMLPathShortcuts``): query keys and listing columns -> xpaths.

xnat-rest.md §3.2 lists them. A shortcut maps to an xpath relative to the listing's root type;
read-only ones are computed from rows, never set.
"""

from __future__ import annotations

DEMOGRAPHIC = "demographics[@xsi:type=xnat:demographicData]/"

SUBJECT = {
    "ID": "ID", "project": "project", "label": "label", "group": "group", "src": "src",
    "pi_firstname": "investigator/firstname", "pi_lastname": "investigator/lastname",
    **{k: DEMOGRAPHIC + k for k in (
        "dob", "yob", "age", "gender", "handedness", "ses", "education", "educationDesc",
        "race", "ethnicity", "weight", "height", "gestational_age", "post_menstrual_age",
        "birth_weight")},
}

EXPERIMENT = {
    "ID": "ID", "visit_id": "visit_id", "visit": "visit", "date": "date", "time": "time",
    "note": "note", "pi_firstname": "investigator/firstname",
    "pi_lastname": "investigator/lastname", "validation_method": "validation/method",
    "validation_status": "validation/status", "validation_date": "validation/date",
    "validation_notes": "validation/notes", "project": "project", "label": "label",
    "scanner": "scanner", "operator": "operator", "dcmAccessionNumber": "dcmAccessionNumber",
    "dcmPatientId": "dcmPatientId", "dcmPatientName": "dcmPatientName",
    "session_type": "session_type", "modality": "modality", "UID": "UID",
    "studyInstanceUID": "UID", "coil": "coil", "fieldStrength": "fieldStrength",
    "marker": "marker", "stabilization": "stabilization", "subject_ID": "subject_ID",
    "tracer_name": "tracer/name", "tracer_dose": "tracer/dose",
    "tracer_startTime": "tracer/startTime", "tracer_isotope": "tracer/isotope",
    "tracer_transmissions": "tracer/transmissions",
    "tracer_transmissions_start": "tracer/transmissions_starttime",
    "session_ID": "imageSession_ID",
}

SCAN = {
    "ID": "ID", "type": "type", "UID": "UID", "note": "note", "quality": "quality",
    "condition": "condition", "series_description": "series_description",
    "documentation": "documentation", "scanner": "scanner", "modality": "modality",
    "frames": "frames", "validation_method": "validation/method",
    "validation_status": "validation/status", "validation_date": "validation/date",
    "validation_notes": "validation/notes", "scanTime": "startTime", "coil": "coil",
    "fieldStrength": "fieldStrength", "marker": "marker", "stabilization": "stabilization",
    "orientation": "parameters/orientation",
}

PROJECT = {
    "ID": "ID", "secondary_ID": "secondary_ID", "name": "name", "description": "description",
    "keywords": "keywords", "alias": "aliases/alias", "pi_firstname": "PI/firstname",
    "pi_lastname": "PI/lastname", "note": "note",
}

# Columns computed by the server, readable in listings but never written.
READ_ONLY = {
    "insert_date", "insert_user", "last_modified", "xsiType", "subject_label",
    "subject_project", "session_label", "session_project", "xnat_imagescandata_id",
}

BY_LEVEL = {
    "project": PROJECT, "subject": SUBJECT, "experiment": EXPERIMENT, "assessor": EXPERIMENT,
    "scan": SCAN,
}


def xpath_for(level: str, key: str) -> str | None:
    """The type-relative xpath a query key or column names, or None if XNAT would drop it.

    Keys with ``/`` are xpaths already (``xnat:subjectData/demographics[...]/gender``); their
    leading ``type/`` is stripped by the schema resolver, not here.
    """
    if "/" in key:
        return key
    return BY_LEVEL[level].get(key)


def shortcut_for_xpath(level: str, xpath: str) -> str | None:
    """Header naming: an xpath equal (ignoring case and type prefix) to a shortcut's gets its name."""
    tail = xpath.split("/", 1)[1] if ":" in xpath.split("/", 1)[0] else xpath
    for name, path in BY_LEVEL[level].items():
        if path.lower() == tail.lower():
            return name
    return None
