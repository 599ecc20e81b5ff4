-- The demo tenant, as a platform DBA creates it: a small contact center with three numbers, each
-- answered by one agent phone. psql variables alice, bob and carol hold the loopback ports of
-- the demo's sipp phones.
SELECT ccroute.create_tenant('demo', 'Asia/Tokyo', 'demo.ccroute.test');
SELECT ccroute.add_did('demo', '+81312345001', NULL, 'sip:alice@127.0.0.1:' || :'alice');
SELECT ccroute.add_did('demo', '+81312345002', NULL, 'sip:bob@127.0.0.1:' || :'bob');
SELECT ccroute.add_did('demo', '+81312345003', NULL, 'sip:carol@127.0.0.1:' || :'carol');
