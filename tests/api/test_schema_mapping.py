"""The API's chargeback row is kept apart from the report's record so that the API stays stable when the
report changes; this test is what keeps the two in step: every field by name and type, and the route's
conversion carries each one."""

from __future__ import annotations

import dataclasses
import typing

from attribution.api.schemas import TenantChargeOut
from attribution.reports.chargeback import Chargeback, GroupCharge


def test_tenant_charge_out_mirrors_group_charge_field_by_field() -> None:
    record = typing.get_type_hints(GroupCharge)
    schema = {name: field.annotation for name, field in TenantChargeOut.model_fields.items()}
    assert list(schema) == [f.name for f in dataclasses.fields(GroupCharge)]
    assert schema == record


def test_the_route_conversion_carries_every_field() -> None:
    values: dict[str, object] = {f.name: i for i, f in enumerate(dataclasses.fields(GroupCharge))}
    values.update(tenant="acme", tier="t", pool="p", cluster="c", kv_token_seconds=1.5, memory_gib_hours=2.5)
    values["estimated"] = True
    row = GroupCharge(**values)  # type: ignore[arg-type]
    out = TenantChargeOut.model_validate(row, from_attributes=True)
    assert out.model_dump() == dataclasses.asdict(row)


def test_a_per_tenant_chargeback_is_grouped_by_tenant_only() -> None:
    hints = typing.get_type_hints(Chargeback)
    assert hints["tenants"] == list[GroupCharge]
