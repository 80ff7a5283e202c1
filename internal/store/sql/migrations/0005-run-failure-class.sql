-- A run's failure class (store.FailureClass), so that readers need not parse
-- the error text. Runs recorded before keep their error text ("<class>:
-- <message>"); their class is taken from it, the service's former names
-- mapped to the one vocabulary (cert_not_found, cert_unreadable, and
-- "interrupted" for a stopped run).
ALTER TABLE runs ADD COLUMN failure_class TEXT NOT NULL DEFAULT '';
UPDATE runs SET failure_class = CASE substr(error, 1, instr(error, ': ') - 1)
        WHEN 'cert_not_found' THEN 'certificate-missing'
        WHEN 'cert_unreadable' THEN 'certificate'
        WHEN 'interrupted' THEN 'canceled'
        WHEN 'auth' THEN 'auth'
        WHEN 'consent' THEN 'consent'
        WHEN 'certificate' THEN 'certificate'
        WHEN 'certificate-missing' THEN 'certificate-missing'
        WHEN 'source' THEN 'source'
        WHEN 'throttled' THEN 'throttled'
        WHEN 'config' THEN 'config'
        WHEN 'internal' THEN 'internal'
        WHEN 'canceled' THEN 'canceled'
        WHEN 'timeout' THEN 'timeout'
        ELSE ''
    END
    WHERE instr(error, ': ') > 1;
