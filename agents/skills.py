"""The skills digital employees can hold. Each becomes a LangChain workflow (DESIGN.md §6);
this module declares what the catalog and contracts need to know about them."""

from employees.skills import SkillSpec, skill_get, skill_register

COUPON_PROMOTER = SkillSpec(
    key="coupon_promoter",
    label="Coupon promoter",
    summary=(
        "Talks with shoppers in the employee's persona, recommends items from the partner's "
        "catalog and issues tracked coupon codes."
    ),
    workflow="agents.workflows:coupon_promoter",
)
CUSTOMER_SERVICE = SkillSpec(
    key="customer_service",
    label="Customer service",
    summary=(
        "Answers from the partner's knowledge base with citations, resolves or escalates to "
        "a human; a confirmed resolution is a billable outcome."
    ),
    outcome_kinds=("resolution",),
    workflow="agents.workflows:customer_service",
)
COPYWRITER = SkillSpec(
    key="copywriter",
    label="Campaign copywriter",
    summary=("Drafts campaign copy for a brief; once a partner member approves it, it counts as delivered work."),
    outcome_kinds=("delivered_work",),
    workflow="agents.workflows:copywriter",
)


def register_all() -> None:
    for spec in (COUPON_PROMOTER, CUSTOMER_SERVICE, COPYWRITER):
        skill_register(spec)


def workflow_for(skill: str):
    """The workflow the registry names for `skill` (None for a skill with none)."""
    import importlib

    spec = skill_get(skill)
    if spec is None or not spec.workflow:
        return None
    module, _, name = spec.workflow.partition(":")
    return importlib.import_module(module).WORKFLOWS[name]
