from django.db import migrations

# Once terms leave the draft state they are what the partner saw and agreed to: their
# terms, start date, number and contract can never change, and the row cannot be deleted.
# Only the status may move on (proposed → accepted/rejected/withdrawn), with its decision
# fields.
SQL = """
CREATE FUNCTION contracts_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'contract version % is % and cannot be deleted', OLD.id, OLD.status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.terms IS DISTINCT FROM OLD.terms
        OR NEW.effective_from IS DISTINCT FROM OLD.effective_from
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.contract_id IS DISTINCT FROM OLD.contract_id
    ) THEN
        RAISE EXCEPTION 'contract version % is % and its terms are frozen', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status IN ('accepted', 'rejected', 'withdrawn') AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'contract version % is % for good', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER contracts_version_guard
    BEFORE UPDATE OR DELETE ON contracts_contractversion
    FOR EACH ROW EXECUTE FUNCTION contracts_version_guard();
"""

REVERSE = """
DROP TRIGGER IF EXISTS contracts_version_guard ON contracts_contractversion;
DROP FUNCTION IF EXISTS contracts_version_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("contracts", "0002_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
