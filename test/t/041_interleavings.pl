
# limaml: interleavings of drop, import, train and adapt of one model in two
# sessions (issue 9).  Drop, create and import of one name serialize on an
# advisory lock of the name; a drop waits for the adaptations of the model
# in flight (advisory lock of the model id, shared by adapt); training
# holds the model row (two concurrent trainings: 002_concurrency.pl).

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('interleavings');
planted_data($node, n_members => 60, per_member => 20);

sub q1 { return $node->safe_psql('postgres', $_[0]); }

q1(q{SELECT limaml_create_model('m', 'planted_interactions', embedding_dim => 4,
	support_size => 10, query_size => 5, seed => 3)});
q1(q{SELECT count(*) FROM limaml_train('m', epochs => 1)});
q1(q{CREATE TABLE saved AS SELECT limaml_model_export('m') AS doc});

my $id_sql = q{SELECT model_id FROM limaml_model WHERE name = 'm'};
my $s1 = session($node);
my $s2 = session($node);

# the model UUID in an embedding's header (bytes 8 to 23, format 2)
q1(q{CREATE FUNCTION header_uuid(e bytea) RETURNS uuid LANGUAGE sql IMMUTABLE AS
	$$ SELECT encode(substr(e, 9, 16), 'hex')::uuid $$});
my $uuid_sql = q{SELECT model_uuid FROM limaml_model WHERE name = 'm'};
my $orphans_sql = q{SELECT count(*) FROM limaml_meta_embedding e
	WHERE e.model = 'm' AND header_uuid(e.embedding)
	  IS DISTINCT FROM (SELECT model_uuid FROM limaml_model WHERE name = 'm')};
my $old_id = q1($id_sql);
is(q1(q{SELECT header_uuid(limaml_adapt(1, 'm'))}), q1($uuid_sql),
	'the header helper reads the model UUID');

# -------------------------------------------------------------------------
# 1. adapt in an open transaction, then drop + import of the same name
# -------------------------------------------------------------------------
sq_ok($s1, 'BEGIN');
ok(length(sq_ok($s1, q{SELECT limaml_adapt(2, 'm')})) > 0, 's1 adapted member 2 (not committed)');
start_async($s2, q{SELECT limaml_drop_model('m'); SELECT limaml_model_import('m', doc, 'planted_interactions') FROM saved});
ok(wait_for_lock_wait($node, '%limaml_drop_model%'), 's2\'s drop waits for s1\'s adaptation');
sq_ok($s1, 'COMMIT');
my ($out, $err) = wait_async($s2);
is($err, '', 's2\'s drop and import succeed after s1 commits');
my $new_id = q1($id_sql);
isnt($new_id, $old_id, 'the import made a new model id');
is(q1(q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'm'}), '0',
	'the drop deleted s1\'s committed embedding: no orphan');
is(q1($orphans_sql), '0', 'no embedding names another model');

# -------------------------------------------------------------------------
# 2. drop + import not yet committed, then adapt: the adaptation waits and
#    fails cleanly, storing nothing
# -------------------------------------------------------------------------
$old_id = q1($id_sql);
sq_ok($s2, 'BEGIN');
sq_ok($s2, q{SELECT limaml_drop_model('m')});
sq_ok($s2, q{SELECT limaml_model_import('m', doc, 'planted_interactions') FROM saved});
start_async($s1, q{SELECT length(limaml_adapt(3, 'm')) > 0});
ok(wait_for_lock_wait($node, '%limaml_adapt%'), 's1\'s adaptation waits for s2\'s drop');
sq_ok($s2, 'COMMIT');
($out, $err) = wait_async($s1);
like($err, qr/42704: limaml model "m" was dropped while adapting/,
	's1\'s adaptation of the dropped model fails with 42704');
is(q1(q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'm'}), '0',
	'and stores no embedding');
is(sq_ok($s1, q{SELECT header_uuid(limaml_adapt(3, 'm'))}), q1($uuid_sql),
	'adapting again uses the imported model');
is(q1($orphans_sql), '0', 'no embedding names another model');

# -------------------------------------------------------------------------
# 3. an orphan embedding (written behind limaml's back, by a copy of the
#    model imported under another name: another UUID) is stale for
#    limaml_refresh and never scored with the new weights
# -------------------------------------------------------------------------
q1(q{SELECT limaml_model_import('tmp', doc, 'planted_interactions') FROM saved});
q1(q{CREATE TABLE orphan AS SELECT 4::bigint AS member_id, limaml_adapt(4, 'tmp') AS embedding});
q1(q{SELECT limaml_drop_model('tmp')});
# its version number and source fingerprint match: only its model UUID tells
q1(q{INSERT INTO limaml_meta_embedding (model, member_id, embedding, model_version, n_support,
	source_ts, source_rows)
	SELECT 'm', o.member_id, o.embedding, (SELECT active_version FROM limaml_model WHERE name = 'm'),
	       10, (SELECT max(ts) FROM planted_interactions WHERE member_id = 4),
	       (SELECT count(*) FROM planted_interactions WHERE member_id = 4)
	  FROM orphan o
	ON CONFLICT (model, member_id) DO UPDATE SET embedding = EXCLUDED.embedding,
	  model_version = EXCLUDED.model_version, source_ts = EXCLUDED.source_ts,
	  source_rows = EXCLUDED.source_rows});
is(q1($orphans_sql), '1', 'an orphan embedding is planted');
($out, $err) = sq($s1, q{SELECT limaml_score(embedding, '{1,0,0,0,0,0,0,0}'::real[])
	FROM limaml_meta_embedding WHERE model = 'm' AND member_id = 4});
like($err, qr/42704/, 'the orphan is not scored with the new weights (42704)');
q1(q{CALL limaml_refresh('m')});
is(q1($orphans_sql), '0', 'limaml_refresh re-adapted the orphan');

# -------------------------------------------------------------------------
# 4. training and dropping
# -------------------------------------------------------------------------
$old_id = q1($id_sql);
my $versions_sql = qq{SELECT count(*) FROM limaml_model_version WHERE model_id = $old_id};
sq_ok($s1, 'BEGIN');
sq_ok($s1, q{SELECT count(*) FROM limaml_train('m', epochs => 1)});
# serving is not blocked by a training
is(q1(q{SELECT length(limaml_adapt(5, 'm')) > 0}), 't',
	'adapting while a training holds the model does not wait');
start_async($s2, q{SELECT limaml_drop_model('m')});
ok(wait_for_lock_wait($node, '%limaml_drop_model%'), 'a drop waits for a training in flight');
sq_ok($s1, 'COMMIT');
($out, $err) = wait_async($s2);
is($err, '', 'the drop succeeds after the training commits');
is(q1($versions_sql), '0', 'no version row of the dropped model is left');
is(q1(q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'm'}), '0',
	'no embedding of the dropped model is left');

q1(q{SELECT limaml_model_import('m', doc, 'planted_interactions') FROM saved});
$old_id = q1($id_sql);
$versions_sql = qq{SELECT count(*) FROM limaml_model_version WHERE model_id = $old_id};
sq_ok($s2, 'BEGIN');
sq_ok($s2, q{SELECT limaml_drop_model('m')});
start_async($s1, q{SELECT count(*) FROM limaml_train('m', epochs => 1)});
ok(wait_for_lock_wait($node, '%limaml_train%'), 'a training waits for a drop in flight');
sq_ok($s2, 'COMMIT');
($out, $err) = wait_async($s1);
like($err, qr/42704: limaml model "m" does not exist/,
	'training a model dropped meanwhile fails with 42704');
is(q1($versions_sql), '0', 'and leaves no version row');

# -------------------------------------------------------------------------
# 5. two imports of a new name
# -------------------------------------------------------------------------
sq_ok($s1, 'BEGIN');
is(sq_ok($s1, q{SELECT limaml_model_import('n', doc) FROM saved}), '1',
	's1 imports n as version 1, the export\'s number (not committed)');
start_async($s2, q{SELECT limaml_model_import('n', doc) FROM saved});
ok(wait_for_lock_wait($node, '%limaml_model_import%'), 's2\'s import of the same name waits');
sq_ok($s1, 'COMMIT');
($out, $err) = wait_async($s2);
is($err, '', 's2\'s import succeeds (no duplicate key)');
is($out, '1', 's2\'s import of the same version is a no-op: version 1 of the model s1 created');
is(q1(q{SELECT count(*), max(active_version) FROM limaml_model WHERE name = 'n'}), '1|1',
	'one model n, its active version the imported one');
is(q1(q{SELECT count(*) FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'n'}),
	'1', 'with one version');

# a create racing an import of the same name: one wins, the other fails with 42710
sq_ok($s1, 'BEGIN');
sq_ok($s1, q{SELECT limaml_model_import('k', doc) FROM saved});
start_async($s2, q{SELECT limaml_create_model('k', 'planted_interactions')});
ok(wait_for_lock_wait($node, '%limaml_create_model%'), 'a create of the same name waits');
sq_ok($s1, 'COMMIT');
($out, $err) = wait_async($s2);
like($err, qr/42710: limaml model "k" already exists/, 'and then fails with 42710');

is(sq_ok($s1, 'SELECT 1') . sq_ok($s2, 'SELECT 1'), '11', 'both sessions are healthy');
$s1->quit;
$s2->quit;
$node->stop;
done_testing();
