"""The ledger's guards, checked once per INSERT statement over every row it wrote instead of
once per row (issue 16). The invariants are the same as revenue migration 0002's; only when
and how often they are checked changes.

Why: the deferred constraint triggers of revenue 0002 queued an event per line and per entry
(so the balance of an entry was computed at commit once for the entry and once per line), and
a BEFORE trigger per line read the account's currency. For a batch that is thousands of
trigger events, each with its own queries, and they, not the rows, were what a posting cost.
Statement-level AFTER triggers with transition tables (`REFERENCING NEW TABLE`) see all the
rows one statement inserted at once, so each check is one set-based query per statement.

The design question: statement-level triggers cannot be deferred to commit, so they check at
the end of each statement, and what they check must already be whole then. The rule this
migration enforces is therefore:

    AN ENTRY AND ALL ITS LINES ARE WRITTEN BY ONE STATEMENT,

e.g. a data-modifying CTE (`WITH entry AS (INSERT … RETURNING id) INSERT INTO lines …`,
which is what `ledger.services.posting` sends). What each trigger checks:

- revenue_journalline, per statement over the lines it inserted (`new_lines`):
  * every line's currency is its account's (was a BEFORE trigger per line);
  * every entry the statement gave lines to exists (visible) at the end of the statement and
    has NO lines other than this statement's: the count of its lines in the table equals the
    count in `new_lines`. So a line can never be added later to an entry written by an
    earlier statement or committed by another transaction, balanced or not (the old deferred
    check let a balanced pair be appended to a posted entry). An entry a concurrent
    transaction has not committed yet is invisible here and refused too, so two transactions
    cannot both give lines to one entry;
  * each of those entries has at least two lines and sums to zero per currency — over
    `new_lines` alone, which by the previous rule are all of its lines.
- revenue_journalentry, per statement over the entries it inserted (`new_entries`): every new
  entry has lines by the end of the statement. An entry inserted by a statement before its
  lines (its own statement, then the lines in a later one) is refused here: it has none at
  the end of its statement, and the later lines could not be added to it anyway. One line of
  an entry present is enough here: the lines' trigger of the same statement has checked that
  they are all of the entry's lines, at least two, balanced.

Append-only (revenue 0002's BEFORE UPDATE OR DELETE row triggers) is unchanged: those fire
only on an update or a delete, never on a posting, so they cost nothing here.

Both triggers fire at the end of the whole statement, after every sub-statement of a CTE has
run (PostgreSQL queues the AFTER triggers of a query's data-modifying CTEs to its end), and
their queries see all the statement's rows. Every look-up into the stored tables is correlated
to one new entry or line (scalar subqueries on the entry's primary key and the lines' entry_id
index, a LATERAL on the account's primary key), never a hash join or a hashed subplan over a
whole table, and the functions run with enable_seqscan off: PL/pgSQL keeps a query's plan for
the session, and a plan made while the tables looked small (freshly created or truncated,
statistics not yet gathered) scanned or hashed the whole table on every later statement (the
benchmark measured its posting rate falling as the table grew). So a check costs in proportion
to the rows its statement wrote, never to the size of the ledger.

Reverse: drops these and restores revenue 0002's deferred triggers and functions exactly.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER revenue_journalline_balanced ON revenue_journalline;
DROP FUNCTION revenue_journalline_balanced();
DROP TRIGGER revenue_journalentry_has_lines ON revenue_journalentry;
DROP FUNCTION revenue_journalentry_has_lines();
DROP FUNCTION revenue_entry_check_balanced(bigint);
DROP TRIGGER revenue_journalline_currency ON revenue_journalline;
DROP FUNCTION revenue_journalline_currency();

CREATE FUNCTION ledger_journalline_statement_check() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    wrong record;
    entry record;
    unbalanced record;
BEGIN
    SELECT l.currency, l.account_id, a.currency AS account_currency INTO wrong
      FROM new_lines l
      CROSS JOIN LATERAL (SELECT currency FROM revenue_account WHERE id = l.account_id) a
     WHERE a.currency <> l.currency
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal line in % posted to account % kept in %',
            wrong.currency, wrong.account_id, wrong.account_currency
            USING ERRCODE = 'check_violation';
    END IF;

    SELECT n.entry_id, n.lines, n.visible, n.stored INTO entry
      FROM (SELECT g.entry_id, g.lines,
                   (SELECT e.id FROM revenue_journalentry e WHERE e.id = g.entry_id) IS NOT NULL AS visible,
                   (SELECT count(*) FROM revenue_journalline s WHERE s.entry_id = g.entry_id) AS stored
              FROM (SELECT entry_id, count(*) AS lines FROM new_lines GROUP BY entry_id) g) n
     WHERE n.lines < 2 OR NOT n.visible OR n.stored <> n.lines
     LIMIT 1;
    IF FOUND THEN
        IF NOT entry.visible THEN
            RAISE EXCEPTION 'journal entry % does not exist where its lines were inserted; '
                'an entry and its lines are inserted by one statement', entry.entry_id
                USING ERRCODE = 'foreign_key_violation';
        ELSIF entry.stored <> entry.lines THEN
            RAISE EXCEPTION 'journal entry % already has lines; an entry and all its lines are '
                'inserted by one statement (journal entries are append-only: post a new entry)',
                entry.entry_id
                USING ERRCODE = 'integrity_constraint_violation';
        ELSE
            RAISE EXCEPTION 'journal entry % has % line(s); an entry needs at least two',
                entry.entry_id, entry.lines
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;

    SELECT entry_id, currency, sum(amount) AS total INTO unbalanced
      FROM new_lines
     GROUP BY entry_id, currency
    HAVING sum(amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: % lines sum to %',
            unbalanced.entry_id, unbalanced.currency, unbalanced.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER revenue_journalline_statement_check
    AFTER INSERT ON revenue_journalline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_journalline_statement_check();

CREATE FUNCTION ledger_journalentry_statement_check() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    bare bigint;
BEGIN
    SELECT e.id INTO bare
      FROM new_entries e
     WHERE (SELECT l.id FROM revenue_journalline l WHERE l.entry_id = e.id LIMIT 1) IS NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % has 0 line(s); an entry needs at least two, '
            'inserted by the same statement as the entry', bare
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER revenue_journalentry_statement_check
    AFTER INSERT ON revenue_journalentry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_journalentry_statement_check();
"""

# Revenue 0002's triggers and functions, as that migration created them.
REVERSE = """
DROP TRIGGER revenue_journalentry_statement_check ON revenue_journalentry;
DROP FUNCTION ledger_journalentry_statement_check();
DROP TRIGGER revenue_journalline_statement_check ON revenue_journalline;
DROP FUNCTION ledger_journalline_statement_check();

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
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        # The triggers this replaces were created there, with the tables.
        ("revenue", "0002_ledger_guards"),
    ]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
