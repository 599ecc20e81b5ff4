-- The demo tenant: a small contact center with three numbers, each answered by one agent phone.
-- psql variables alice, bob and carol hold the loopback ports of the demo's sipp phones.
INSERT INTO ccroute.tenant (name) VALUES ('demo-callcenter');

INSERT INTO ccroute.did (did, tenant_id, destination)
SELECT v.did, t.tenant_id, v.destination
  FROM ccroute.tenant t,
       (VALUES ('+81312345001', 'sip:alice@127.0.0.1:' || :'alice'),
               ('+81312345002', 'sip:bob@127.0.0.1:'   || :'bob'),
               ('+81312345003', 'sip:carol@127.0.0.1:' || :'carol')) AS v (did, destination)
 WHERE t.name = 'demo-callcenter';
