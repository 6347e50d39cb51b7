from django.db import migrations

# The ledger's invariants live in the database, so no code path (a bug, a shell, a
# future service) can break them:
# - every journal entry balances to zero per currency and has at least two lines, checked
#   at COMMIT by deferred constraint triggers (lines are inserted one by one, so the check
#   must wait for the whole entry);
# - a line's currency is its account's currency;
# - posted entries and lines are append-only: corrections are reversing entries.
SQL = """
CREATE FUNCTION revenue_entry_check_balanced(entry bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    unbalanced record;
    line_count integer;
BEGIN
    SELECT count(*) INTO line_count FROM revenue_journalline WHERE entry_id = entry;
    IF line_count < 2 THEN
        RAISE EXCEPTION 'journal entry % has % line(s); an entry needs at least two', entry, line_count
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, sum(amount) AS total INTO unbalanced
      FROM revenue_journalline WHERE entry_id = entry
     GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: % lines sum to %',
            entry, unbalanced.currency, unbalanced.total
            USING ERRCODE = 'check_violation';
    END IF;
END;
$$;

CREATE FUNCTION revenue_journalline_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM revenue_entry_check_balanced(NEW.entry_id);
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER revenue_journalline_balanced
    AFTER INSERT ON revenue_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revenue_journalline_balanced();

CREATE FUNCTION revenue_journalentry_has_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM revenue_entry_check_balanced(NEW.id);
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER revenue_journalentry_has_lines
    AFTER INSERT ON revenue_journalentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revenue_journalentry_has_lines();

CREATE FUNCTION revenue_journalline_currency() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    account_currency varchar(3);
BEGIN
    SELECT currency INTO account_currency FROM revenue_account WHERE id = NEW.account_id;
    IF account_currency IS DISTINCT FROM NEW.currency THEN
        RAISE EXCEPTION 'journal line in % posted to account % kept in %',
            NEW.currency, NEW.account_id, account_currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER revenue_journalline_currency
    BEFORE INSERT ON revenue_journalline
    FOR EACH ROW EXECUTE FUNCTION revenue_journalline_currency();

CREATE FUNCTION revenue_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused); post a reversing entry instead',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER revenue_journalline_append_only
    BEFORE UPDATE OR DELETE ON revenue_journalline
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_append_only();
CREATE TRIGGER revenue_journalentry_append_only
    BEFORE UPDATE OR DELETE ON revenue_journalentry
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS revenue_journalentry_append_only ON revenue_journalentry;
DROP TRIGGER IF EXISTS revenue_journalline_append_only ON revenue_journalline;
DROP FUNCTION IF EXISTS revenue_ledger_append_only();
DROP TRIGGER IF EXISTS revenue_journalline_currency ON revenue_journalline;
DROP FUNCTION IF EXISTS revenue_journalline_currency();
DROP TRIGGER IF EXISTS revenue_journalentry_has_lines ON revenue_journalentry;
DROP FUNCTION IF EXISTS revenue_journalentry_has_lines();
DROP TRIGGER IF EXISTS revenue_journalline_balanced ON revenue_journalline;
DROP FUNCTION IF EXISTS revenue_journalline_balanced();
DROP FUNCTION IF EXISTS revenue_entry_check_balanced(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("revenue", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
