
# limaml: concurrent training and adaptation of one model.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('concurrency');
planted_data($node);

$node->safe_psql('postgres', q{SELECT limaml_create_model('m', 'planted_interactions',
	embedding_dim => 8, meta_hidden => '{16}', global_hidden => '{16}',
	support_size => 20, query_size => 5, seed => 11, members => 'planted_members')});

my $versions_sql = q{SELECT string_agg(v.version::text, ',' ORDER BY v.version)
	FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'm'};
my $active_sql = q{SELECT active_version FROM limaml_model WHERE name = 'm'};
my $from_sql = q{SELECT string_agg(v.version || '<-' || (v.training->>'from_version'), ','
	                                ORDER BY v.version)
	FROM limaml_model_version v JOIN limaml_model m USING (model_id)
	WHERE m.name = 'm' AND v.version > 0};

my $s1 = session($node);
my $s2 = session($node);

# -------------------------------------------------------------------------
# 1. training that waits for another session's training
# -------------------------------------------------------------------------
# s1 trains inside an open transaction, so it holds the model's row lock;
# s2's training must wait for it, then train from s1's version.
is($node->safe_psql('postgres', $versions_sql), '0', 'only the initialization exists');
sq_ok($s1, 'BEGIN');
is(sq_ok($s1, q{SELECT count(*) FROM limaml_train('m', epochs => 2)}), '2',
	's1 trained 2 epochs in an open transaction');
start_async($s2, q{SELECT count(*) FROM limaml_train('m', epochs => 2)});
ok(wait_for_lock_wait($node, '%limaml_train%'), 's2\'s training waits for s1\'s lock');
sq_ok($s1, 'COMMIT');
my ($out, $err) = wait_async($s2);
is($err, '', 's2\'s training succeeds after s1 commits (no error)');
is($out, '2', 's2 trained 2 epochs');
is($node->safe_psql('postgres', $versions_sql), '0,1,2',
	'two consecutive distinct versions 1 and 2');
is($node->safe_psql('postgres', $active_sql), '2', 'the active version is the larger one');
is($node->safe_psql('postgres', $from_sql), '1<-0,2<-1',
	's2 trained from s1\'s version, not from the one it saw when it started');

# -------------------------------------------------------------------------
# 2. two trainings started at the same moment
# -------------------------------------------------------------------------
my $base = $node->safe_psql('postgres', q{SELECT max(v.version)
	FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'm'});
my $versions_before = $node->safe_psql('postgres', $versions_sql);
my ($b1, $b2) = ($base + 1, $base + 2);
start_async($s1, q{SELECT count(*) FROM limaml_train('m', epochs => 3)});
start_async($s2, q{SELECT count(*) FROM limaml_train('m', epochs => 3)});
my ($out1, $err1) = wait_async($s1);
my ($out2, $err2) = wait_async($s2);
unlike($err1 . $err2, qr/duplicate key|23505/, 'no duplicate-key error from concurrent training');
is($err1, '', 's1\'s concurrent training succeeds');
is($err2, '', 's2\'s concurrent training succeeds');
is("$out1/$out2", '3/3', 'both trained 3 epochs');
is($node->safe_psql('postgres', $versions_sql), "$versions_before,$b1,$b2",
	"concurrent training produced consecutive versions $b1 and $b2");
is($node->safe_psql('postgres', $active_sql), $b2, "the active version is the larger one ($b2)");
is($node->safe_psql('postgres', $from_sql . " AND v.version > $base"), "$b1<-$base,$b2<-$b1",
	'the trainings were serialized: the second started from the first one\'s version');

# -------------------------------------------------------------------------
# 3. concurrent adaptation over overlapping member sets
# -------------------------------------------------------------------------
# members 1..150 and 51..200: 100 shared members, both in the same order
start_async($s1, q{SELECT count(limaml_adapt(member_id, 'm'))
	FROM (SELECT member_id FROM planted_members WHERE member_id BETWEEN 1 AND 150
	       ORDER BY member_id) t});
start_async($s2, q{SELECT count(limaml_adapt(member_id, 'm'))
	FROM (SELECT member_id FROM planted_members WHERE member_id BETWEEN 51 AND 200
	       ORDER BY member_id) t});
($out1, $err1) = wait_async($s1);
($out2, $err2) = wait_async($s2);
is($err1, '', 's1\'s concurrent adaptation succeeds');
is($err2, '', 's2\'s concurrent adaptation succeeds');
is("$out1/$out2", '150/150', 'each adapted its 150 members');
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT member_id),
	min(member_id), max(member_id) FROM limaml_meta_embedding WHERE model = 'm'}),
	'200|200|1|200', 'limaml_meta_embedding has exactly one row per member');
is($node->safe_psql('postgres', q{SELECT count(*)
	FROM limaml_meta_embedding e, (SELECT active_version FROM limaml_model WHERE name = 'm') a
	WHERE e.model = 'm' AND (e.model_version <> a.active_version
	      OR (limaml_embedding_info(e.embedding)).version <> a.active_version)}),
	'0', 'every embedding is of the active version');
# a deterministic adaptation: whichever session wrote last, the embedding
# is the one a fresh adaptation computes
is($node->safe_psql('postgres', q{SELECT count(*) FROM limaml_meta_embedding e
	WHERE model = 'm' AND embedding IS DISTINCT FROM (
	  SELECT limaml_adapt_agg('m', member_features, item_features, label ORDER BY ts)
	    FROM (SELECT * FROM planted_interactions p WHERE p.member_id = e.member_id
	           ORDER BY ts DESC LIMIT 20) r)}),
	'0', 'every stored embedding equals limaml_adapt_agg over the member\'s newest rows');

# the reverse order as well, with the rows already present (pure updates)
start_async($s1, q{SELECT count(limaml_adapt(member_id, 'm'))
	FROM (SELECT member_id FROM planted_members ORDER BY member_id) t});
start_async($s2, q{SELECT count(limaml_adapt(member_id, 'm'))
	FROM (SELECT member_id FROM planted_members WHERE member_id > 100 ORDER BY member_id) t});
($out1, $err1) = wait_async($s1);
($out2, $err2) = wait_async($s2);
is("$err1$err2", '', 'concurrent re-adaptation of existing rows succeeds');
is("$out1/$out2", '200/100', 'both re-adapted their members');
is($node->safe_psql('postgres',
	q{SELECT count(*), count(DISTINCT member_id) FROM limaml_meta_embedding WHERE model = 'm'}),
	'200|200', 'still exactly one row per member');

is(sq_ok($s1, 'SELECT 1') . sq_ok($s2, 'SELECT 1'), '11', 'both sessions are healthy');
$s1->quit;
$s2->quit;
$node->stop;

done_testing();
