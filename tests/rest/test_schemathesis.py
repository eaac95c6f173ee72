"""Schemathesis over the whole OpenAPI, in process: no 5xx, no answer that breaks the schema.

Every operation of the app's OpenAPI gets a few generated requests (derandomized: the same
ones on every run, so CI is reproducible) and each answer is checked by schemathesis' default
checks (no server error, documented status, content type and response schema) except the one
that wants every schema-valid value accepted (see below). Bounded to
stay within about 30 s of ``make test`` on a shared machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api.app import create_app
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import mini_settings

EXAMPLES = 10


def test_openapi(real_build: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    kg_settings = mini_settings(
        tmp_path_factory.mktemp("schemathesis"), dataset_file=real_build / "dataset.nq"
    )
    app = create_app(kg_settings)
    assert app.openapi_url is not None
    schema = schemathesis.openapi.from_asgi(app.openapi_url, app)
    failures: list[str] = []
    tested: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"invalid operation in the OpenAPI: {result}"
        operation = result.ok()
        tested.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case[Any]) -> None:
            # Names, ids and levels are resolved against the data: a well-formed name that names
            # nothing is a 404/422 by design, so "schema-valid request rejected" does not apply.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert any("/api/pairings" in t for t in tested)
    assert any("/reconcile" in t for t in tested)
    assert not failures, "\n\n".join(failures)
