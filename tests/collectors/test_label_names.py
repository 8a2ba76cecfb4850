"""Gateway tenant labels and GPU selectors read as Prometheus reads them: a tenant label that is not a
valid name (invisible, bidirectional, look-alike characters) is billed to ``__unallocated__``, counted,
never dropped and never under a name that looks like another tenant's; selectors match in ASCII."""

from __future__ import annotations

from attribution.collectors.labels import UNALLOCATED_TENANT, pool_for_gpu, tenant_of
from tests.builders import small_cluster_settings

SETTINGS = small_cluster_settings()


def test_a_tenant_label_that_is_not_a_name_goes_to_unallocated() -> None:
    for value in ("ac\u200bme", "\u202eemca", "\uff41cme", "acme\x00", "a\u00a0cme"):
        assert tenant_of(SETTINGS, {"tenant": value}) == UNALLOCATED_TENANT, repr(value)
    assert tenant_of(SETTINGS, {"tenant": "acme"}) == "acme"
    assert tenant_of(SETTINGS, {"tenant": "Mu\u0308ller"}) == "M\u00fcller"  # stored in NFC


def test_gpu_selectors_match_ascii_digits_only() -> None:
    digits = small_cluster_settings(
        pools=[
            {
                "name": "small",
                "model": "mistral-small-24b",
                "served_model_name": "mistralai/Mistral-Small-24B-Instruct-2501",
                "tensor_parallel_size": 2,
                "gpu_selector": {"pod": r"small-\d+"},
            }
        ]
    )
    assert pool_for_gpu(digits, {"pod": "small-12"}) is not None
    assert pool_for_gpu(digits, {"pod": "small-\u0661\u0662"}) is None  # Arabic-Indic 12
