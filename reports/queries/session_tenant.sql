-- session_tenant: the name of the tenant this login belongs to (nothing when it belongs to none).
SELECT t.name FROM ccroute.tenant t WHERE t.tenant_id = ccroute.current_tenant();
