
# limaml on a real Citus cluster (issue 10): a coordinator and two workers on
# loopback, a third worker added later.  Models reach the workers with
# limaml_publish; adaptation runs where the rows live and gives the bytes of
# one server; embeddings made on any node score with the same weights on
# every node, and never with other weights.
#
# Citus comes from ../shared/citus/build.sh (test/run_all.sh runs it and sets
# LIMAML_CITUS=1).  Without it this test skips, saying so; with
# LIMAML_CITUS=1 a missing Citus fails.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
if (!-f "$sharedir/extension/citus.control")
{
	die "LIMAML_CITUS=1 but citus is not installed in $sharedir\n" if $ENV{LIMAML_CITUS};
	plan skip_all => 'citus is not installed: ../shared/citus/build.sh installs it';
}

# a node with Citus loaded, listening on loopback so the others can connect
sub citus_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
citus.local_hostname = '127.0.0.1'
max_connections = 60
max_prepared_transactions = 60
fsync = off
log_min_messages = warning
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	return $node;
}

my $coord = citus_node('coordinator');
my @workers = (citus_node('worker1'), citus_node('worker2'));
sub cq { return $coord->safe_psql('postgres', $_[0]); }
sub add_worker
{
	my ($w) = @_;
	cq(sprintf(q{SELECT citus_add_node('127.0.0.1', %d)}, $w->port));
}
cq(sprintf(q{SELECT citus_set_coordinator_host('127.0.0.1', %d)}, $coord->port));
add_worker($_) for @workers;
cq('CREATE EXTENSION limaml');
is($workers[0]->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'limaml'}),
	cq(q{SELECT extversion FROM pg_extension WHERE extname = 'limaml'}),
	'CREATE EXTENSION limaml reached the workers');

# planted data with item ids: interactions distributed by member, items a
# reference table; local_* are the same rows on the coordinator alone
cq(q{
SELECT setseed(0.42);
CREATE TABLE items AS
SELECT i::bigint AS item_id, i % 8 AS genre,
       (SELECT array_agg((CASE WHEN g = i % 8 THEN 1.0 ELSE 0.0 END + (random() - 0.5) * 0.2)::real ORDER BY g)
          FROM generate_series(0, 7) g) AS features
  FROM generate_series(1, 64) i;
CREATE TABLE members AS
SELECT m::bigint AS member_id, (m * 7 + m / 8) % 8 AS fav, ARRAY[random() - 0.5]::real[] AS member_features
  FROM generate_series(1, 240) m;
CREATE TABLE interactions AS
SELECT pm.member_id, it.item_id, pm.member_features, it.features AS item_features,
       (random() < CASE WHEN it.genre = pm.fav THEN 0.8 ELSE 0.1 END)::int::real AS label,
       timestamptz '2026-01-01' + make_interval(mins => k) AS ts
  FROM members pm
 CROSS JOIN generate_series(1, 30) k
 CROSS JOIN LATERAL (SELECT 1 + floor(random() * 64)::int + 0 * k * pm.member_id AS pick) p
  JOIN items it ON it.item_id = p.pick;
CREATE TABLE local_interactions AS SELECT * FROM interactions;
CREATE TABLE local_items AS SELECT * FROM items;
SELECT create_distributed_table('interactions', 'member_id', shard_count => 8);
SELECT truncate_local_data_after_distributing_table('interactions');
SELECT create_reference_table('items');
SELECT truncate_local_data_after_distributing_table('items');
-- embeddings where the rows are: a co-located distributed table
CREATE TABLE member_embedding (member_id bigint PRIMARY KEY, embedding bytea NOT NULL);
SELECT create_distributed_table('member_embedding', 'member_id', colocate_with => 'interactions');
});

# per-node numbering drifts (models dropped and re-created on one node):
# nothing may depend on it
$workers[0]->safe_psql('postgres', q{SELECT setval('limaml_model_model_id_seq', 10)});
cq(q{SELECT limaml_create_model('m', 'interactions', embedding_dim => 8, support_size => 15,
	query_size => 10, seed => 1)});
cq(q{SELECT count(*) FROM limaml_train('m', epochs => 3)});
ok(cq(q{SELECT active_version FROM limaml_model WHERE name = 'm'}) > 0,
	'limaml_train reads the distributed source through Citus');

# -------------------------------------------------------------------------
# 1. publishing
# -------------------------------------------------------------------------
# one digest of a node's models: identity, configuration, versions' bytes
my $digest_sql = q{SELECT md5(coalesce(string_agg(d, ';' ORDER BY d), '')) FROM (
	SELECT m.name || m.model_uuid || coalesce(m.active_version, -1) || m.config::text
		   || coalesce(m.source::text, '-') || m.owner::text
		   || (SELECT coalesce(string_agg(v.version || md5(v.params), ',' ORDER BY v.version), '')
				 FROM limaml_model_version v WHERE v.model_id = m.model_id) AS d
	  FROM limaml_model m) x};
sub all_nodes_identical
{
	my ($msg, @nodes) = @_;
	my $want = cq($digest_sql);
	is($_->safe_psql('postgres', $digest_sql), $want, "$msg: " . $_->name) for @nodes;
}

like(cq(q{SELECT string_agg(result, ',') FROM limaml_publish('m')}), qr/written/,
	'limaml_publish copies the model to the workers');
all_nodes_identical('after publishing, the worker holds the same model', @workers);
cq(q{SELECT limaml_publish('m')});
all_nodes_identical('publishing again changes nothing', @workers);

# -------------------------------------------------------------------------
# 2. adaptation where the rows live
# -------------------------------------------------------------------------
my $plan = cq(q{EXPLAIN (VERBOSE) SELECT member_id, limaml_adapt_agg('m', member_features, item_features,
	label, ts, item_id) FROM interactions GROUP BY member_id});
like($plan, qr/Task Count: 8.*limaml_adapt_agg/s, 'the aggregate runs on the shards (EXPLAIN)');
my $same_sql = q{
	WITH d AS MATERIALIZED (SELECT member_id, %s AS e FROM interactions GROUP BY member_id),
		 l AS MATERIALIZED (SELECT member_id, %s AS e FROM local_interactions GROUP BY member_id)
	SELECT count(*) || ' ' || count(*) FILTER (WHERE d.e = l.e) FROM d JOIN l USING (member_id)};
my $agg_ts = q{limaml_adapt_agg('m', member_features, item_features, label, ts, item_id)};
my $agg_ordered = q{limaml_adapt_agg('m', member_features, item_features, label, item_id ORDER BY ts, item_id)};
is(cq(sprintf($same_sql, $agg_ts, $agg_ts)), '240 240',
	'pushed-down embeddings (ts form) are byte-identical to one server\'s');
is(cq(sprintf($same_sql, $agg_ordered, $agg_ordered)), '240 240',
	'pushed-down embeddings (ORDER BY form) are byte-identical to one server\'s');

# limaml_adapt on the coordinator (its reads route to the member's shard),
# and inside a query Citus ships to the worker holding the member
my $routed_adapt = q{SELECT limaml_adapt(member_id, 'm') FROM interactions WHERE member_id = 42 LIMIT 1};
like(cq("EXPLAIN $routed_adapt"), qr/Task Count: 1\b/, 'a query calling limaml_adapt for one member is routed');
is(cq(qq{SELECT ($routed_adapt) = limaml_adapt(42, 'm')}), 't',
	'limaml_adapt inside the routed query (on the worker) gives the coordinator\'s bytes');
is(cq(qq{SELECT limaml_adapt(42, 'm') = $agg_ts FROM local_interactions WHERE member_id = 42}), 't',
	'… which are one server\'s aggregate bytes');

$plan = cq(qq{EXPLAIN INSERT INTO member_embedding SELECT member_id, $agg_ts FROM interactions GROUP BY member_id});
like($plan, qr/Task Count: 8.*Insert on member_embedding_\d+/s,
	'INSERT … SELECT into the co-located table runs on the workers (EXPLAIN)');
cq(qq{INSERT INTO member_embedding SELECT member_id, $agg_ts FROM interactions GROUP BY member_id});

# -------------------------------------------------------------------------
# 3. embeddings made on one node, scored on another
# -------------------------------------------------------------------------
cq(qq{CREATE TABLE local_embedding AS SELECT member_id, $agg_ts AS embedding
	FROM local_interactions GROUP BY member_id});
# worker-made embeddings, copied to the coordinator and scored there
cq(q{CREATE TABLE worker_made AS SELECT * FROM member_embedding});
is(cq(q{SELECT count(*) FROM worker_made w JOIN local_embedding l USING (member_id),
		  local_items i
	 WHERE limaml_score(w.embedding, i.features, i.item_id) = limaml_score(l.embedding, i.features, i.item_id)}),
	240 * 64, 'worker-made embeddings score on the coordinator as the coordinator\'s own');
# coordinator-made embeddings, scored on the workers (the join is pushed down)
cq(q{CREATE TABLE coordinator_made (member_id bigint PRIMARY KEY, embedding bytea);
	SELECT create_distributed_table('coordinator_made', 'member_id', colocate_with => 'interactions');
	INSERT INTO coordinator_made SELECT * FROM local_embedding});
cq(q{CREATE TABLE scored_on_workers AS
	SELECT c.member_id, i.item_id, limaml_score(c.embedding, i.features, i.item_id) AS score
	  FROM coordinator_made c, items i});
is(cq(q{SELECT count(*) FROM scored_on_workers s JOIN local_embedding l USING (member_id)
	JOIN local_items i USING (item_id) WHERE s.score = limaml_score(l.embedding, i.features, i.item_id)}),
	240 * 64, 'coordinator-made embeddings score on the workers as on the coordinator');

# -------------------------------------------------------------------------
# 4. ranking for one member routes to one worker
# -------------------------------------------------------------------------
my $rank_sql = q{SELECT string_agg(item_id::text, ',' ORDER BY score DESC, item_id) FROM (
	SELECT i.item_id, limaml_score(e.embedding, i.features, i.item_id) AS score
	  FROM member_embedding e JOIN items i ON true WHERE e.member_id = 42
	 ORDER BY score DESC, i.item_id LIMIT 10) t};
my $local_rank_sql = q{SELECT string_agg(item_id::text, ',' ORDER BY score DESC, item_id) FROM (
	SELECT i.item_id, limaml_score(e.embedding, i.features, i.item_id) AS score
	  FROM local_embedding e JOIN local_items i ON true WHERE e.member_id = 42
	 ORDER BY score DESC, i.item_id LIMIT 10) t};
like(cq("EXPLAIN $rank_sql"), qr/Task Count: 1\b/, 'one member\'s ranking is routed to one worker');
my $want_top = cq($local_rank_sql);
is(cq($rank_sql), $want_top, 'the routed top 10 is one server\'s top 10');
is(cq(q{SELECT count(*) FROM limaml_top_k('m', 'items', 5, members => '{1,2,3}')}), '0',
	'limaml_top_k over a reference table: members without stored embeddings get nothing');

# -------------------------------------------------------------------------
# 5. refresh over the distributed source
# -------------------------------------------------------------------------
my ($ret, $out, $err) = $coord->psql('postgres', q{CALL limaml_refresh('m', batch_size => 100)});
is($ret, 0, 'limaml_refresh over a distributed source succeeds') or diag $err;
like($err, qr/batch 3\/3 committed/, 'refresh committed per batch');
is(cq(q{SELECT count(*) FILTER (WHERE r.embedding = l.embedding) || '/' || count(*)
	FROM limaml_meta_embedding r JOIN local_embedding l USING (member_id) WHERE r.model = 'm'}), '240/240',
	'refreshed embeddings are the single-server bytes');
is(cq(q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'm'
	AND model_version <> (SELECT active_version FROM limaml_model WHERE name = 'm')}), '0',
	'refresh recorded the version the embeddings were made with');
($ret, $out, $err) = $coord->psql('postgres', q{CALL limaml_refresh('m')});
like($err, qr/every member is fresh/, 'a second refresh finds every member fresh');

# refresh into a co-located table: adaptation and storage on the workers
cq(q{CREATE TABLE refreshed (member_id bigint PRIMARY KEY, embedding bytea NOT NULL, model_version int,
		source_ts timestamptz, source_rows bigint);
	SELECT create_distributed_table('refreshed', 'member_id', colocate_with => 'interactions')});
like(cq(qq{EXPLAIN WITH ins AS (INSERT INTO refreshed AS t (member_id, embedding, model_version, source_ts, source_rows)
		SELECT a.member_id, a.e, limaml_embedding_version(a.e), a.ts, a.n
		  FROM (SELECT member_id, $agg_ts AS e, max(ts) AS ts, count(*) AS n FROM interactions src
				 WHERE member_id = ANY ('{1,2,3}') GROUP BY member_id) a
		ON CONFLICT (member_id) DO UPDATE SET embedding = EXCLUDED.embedding RETURNING t.member_id)
	SELECT array_agg(member_id) FROM ins}), qr/Insert on refreshed_\d+/,
	'refresh\'s statement for an embeddings table runs the insert on the workers (EXPLAIN)');
($ret, $out, $err) = $coord->psql('postgres', q{CALL limaml_refresh('m', batch_size => 100, embeddings => 'refreshed')});
is($ret, 0, 'limaml_refresh(…, embeddings => a co-located table) succeeds') or diag $err;
is(cq(q{SELECT count(*) FILTER (WHERE r.embedding = l.embedding) || '/' || count(*)
	FROM refreshed r JOIN local_embedding l USING (member_id)}), '240/240',
	'… and stores the single-server bytes there');
($ret, $out, $err) = $coord->psql('postgres', q{CALL limaml_refresh('m', embeddings => 'refreshed')});
like($err, qr/every member is fresh/, '… a second refresh into it finds every member fresh');
my $top_sql = q{SELECT string_agg(member_id || ':' || item_id, ',' ORDER BY member_id, rank)
	FROM limaml_top_k('m', '%s', 5, members => '{1,2,3}')};
my $top_ref = cq(sprintf($top_sql, 'items'));
is(scalar(split /,/, $top_ref), 15, 'limaml_top_k over a reference items table');
cq(q{CREATE TABLE items_distributed AS SELECT * FROM local_items;
	SELECT create_distributed_table('items_distributed', 'item_id');});
is(cq(sprintf($top_sql, 'items_distributed')), $top_ref, 'limaml_top_k over a distributed items table: the same');

# -------------------------------------------------------------------------
# 6. a node added after the model, then a shard moved to it
# -------------------------------------------------------------------------
my $late = citus_node('worker3');
add_worker($late);
is($late->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'limaml'}), '1',
	'citus_add_node installs limaml on the new node');
cq(q{SELECT limaml_publish()});
all_nodes_identical('a node added later is brought up to date', @workers, $late);

my ($shard, $from) = split /\|/, cq(q{SELECT s.shardid, n.nodeport FROM pg_dist_shard s
	JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
	WHERE s.shardid = get_shard_id_for_distribution_column('interactions', 42)
	  AND s.logicalrelid = 'interactions'::regclass});
cq(q{SELECT replicate_reference_tables('block_writes')});
cq(sprintf(q{SELECT citus_move_shard_placement(%d, '127.0.0.1', %d, '127.0.0.1', %d,
	shard_transfer_mode => 'block_writes')}, $shard, $from, $late->port));
like(cq("EXPLAIN $rank_sql"), qr/port=${\ $late->port}/, 'member 42\'s ranking now runs on the new node');
is(cq($rank_sql), $want_top, 'after the shard move the top 10 is unchanged');

# -------------------------------------------------------------------------
# 7. drop and re-import; a model re-created under the same name
# -------------------------------------------------------------------------
cq(q{CREATE TABLE saved AS SELECT limaml_model_export('m') AS doc});
cq(q{SELECT limaml_drop_model('m')});
cq(q{SELECT limaml_model_import('m', doc, 'interactions') FROM saved});
cq(q{SELECT limaml_publish('m')});
all_nodes_identical('drop, re-import and publish', @workers, $late);
is(cq($rank_sql), $want_top, 're-imported (same identity): the stored embeddings still rank the same');

cq(q{SELECT limaml_drop_model('m')});
cq(q{SELECT limaml_create_model('m', 'interactions', embedding_dim => 8, support_size => 15,
	query_size => 10, seed => 2)});
cq(q{SELECT limaml_publish('m')});
all_nodes_identical('a re-created model replaces the old one on every node', @workers, $late);
($ret, $out, $err) = $coord->psql('postgres', $rank_sql);
isnt($ret, 0, 'embeddings of the dropped model are not scored by the new one on the workers');
like($err, qr/not on this node|does not exist|re-adapt/i, '… with an error that says why') or diag $err;
($ret, $out, $err) = $coord->psql('postgres', q{SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}')
	FROM worker_made LIMIT 1});
isnt($ret, 0, '… nor on the coordinator');

# -------------------------------------------------------------------------
# 8. settings for the workers; training's memory on the coordinator
# -------------------------------------------------------------------------
cq(q{ALTER ROLE CURRENT_USER SET limaml.default_model = 'm'});
like($workers[0]->safe_psql('postgres', q{SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting
	WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)}),
	qr/limaml\.default_model=m/, 'ALTER ROLE … SET limaml.default_model reaches the workers');
cq(q{ALTER ROLE CURRENT_USER RESET limaml.default_model});
($ret, $out, $err) = $coord->psql('postgres', q{SET maintenance_work_mem = '1MB';
	SELECT count(*) FROM limaml_train('m', epochs => 1)});
is($ret, 0, 'training over the distributed source in 1 MB of maintenance_work_mem') or diag $err;
cq(q{SELECT limaml_publish('m')});

# -------------------------------------------------------------------------
# 9. bad input: unknown identity on a node, a node down while publishing
# -------------------------------------------------------------------------
cq(q{SELECT limaml_create_model('solo', 'interactions', embedding_dim => 8, support_size => 15,
	query_size => 10, seed => 3)});
my $solo = cq(q{SELECT limaml_adapt(1, 'solo')});
my $res = cq(sprintf(q{SELECT success || ' ' || result FROM run_command_on_workers(
	'SELECT limaml_score(''%s''::bytea, ''{1,0,0,0,0,0,0,0}'')') LIMIT 1}, $solo));
like($res, qr/^false ERROR:  limaml model version 0 of model [0-9a-f-]{36} is not on this node \(127\.0\.0\.1:\d+, database "postgres"\)/,
	'an embedding of a model this worker lacks is an error there, naming the node, not a score')
  or diag $res;

$workers[1]->stop;
($ret, $out, $err) = $coord->psql('postgres', q{SELECT limaml_publish('solo')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'publishing while a worker is down fails');
like($err, qr/08006.*\Q${\ $workers[1]->port}\E/s, '… naming the node that is down (08006)') or diag $err;
is($workers[0]->safe_psql('postgres', q{SELECT count(*) FROM limaml_model WHERE name = 'solo'}), '0',
	'… and nothing was written on the nodes that are up');
$workers[1]->start;
cq(q{SELECT limaml_publish('solo')});
all_nodes_identical('once the node is back, publishing completes', @workers, $late);

$_->stop for ($coord, @workers, $late);
done_testing();
