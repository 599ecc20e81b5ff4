-- The stock way, for comparison (tests/bench/route_call.sh and sip_load.sh): plain tables
-- copied from the ccroute tables already loaded, a plain PL/pgSQL function that picks the
-- longest-idle ready agent, reserves it and records the call, and one that frees the agent.
CREATE SCHEMA stock;
CREATE TABLE stock.did (did text PRIMARY KEY, tenant_id bigint, skill_id bigint);
CREATE TABLE stock.agent (tenant_id bigint, agent_id bigint, skill_id bigint, contact text,
                          state text, idle_since timestamptz, PRIMARY KEY (tenant_id, agent_id));
CREATE INDEX ON stock.agent (tenant_id, skill_id, state, idle_since);
CREATE TABLE stock.call (call_id text PRIMARY KEY, tenant_id bigint, agent_id bigint,
                         created timestamptz DEFAULT now());
INSERT INTO stock.did SELECT d.did, d.tenant_id, d.skill_id FROM ccroute.did d;
INSERT INTO stock.agent SELECT a.tenant_id, a.agent_id, x.skill_id, a.contact_uri, 'ready', s.idle_since
  FROM ccroute.agent a JOIN ccroute.agent_skill x USING (tenant_id, agent_id)
  JOIN ccroute.agent_state s USING (tenant_id, agent_id);
CREATE FUNCTION stock.route(p_call text, p_did text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d stock.did;
    a stock.agent;
BEGIN
    SELECT * INTO d FROM stock.did WHERE did = p_did;
    SELECT * INTO a FROM stock.agent
     WHERE tenant_id = d.tenant_id AND skill_id = d.skill_id AND state = 'ready'
     ORDER BY idle_since LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE stock.agent SET state = 'busy' WHERE tenant_id = a.tenant_id AND agent_id = a.agent_id;
    INSERT INTO stock.call (call_id, tenant_id, agent_id) VALUES (p_call, d.tenant_id, a.agent_id);
    RETURN a.contact;
END
$$;
-- ... and the stock way's BYE: free the agent.
CREATE FUNCTION stock.release(p_call text) RETURNS void LANGUAGE sql AS $$
    UPDATE stock.agent a SET state = 'ready', idle_since = now()
      FROM stock.call c WHERE c.call_id = p_call AND a.tenant_id = c.tenant_id AND a.agent_id = c.agent_id
$$;
GRANT USAGE ON SCHEMA stock TO kamailio;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA stock TO kamailio;
GRANT SELECT, UPDATE, INSERT ON ALL TABLES IN SCHEMA stock TO kamailio;
