
# limaml: a long limaml_train is cancelled promptly, stores nothing and
# leaves the backend (and the model's lock) usable.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;
use Time::HiRes ();

my $node = new_limaml_node('cancel');
planted_data($node, n_members => 1000, per_member => 60);

# a model big enough that one epoch takes a noticeable time
$node->safe_psql('postgres', q{SELECT limaml_create_model('big', 'planted_interactions',
	embedding_dim => 32, meta_hidden => '{64}', global_hidden => '{128, 64}',
	support_size => 50, query_size => 10, seed => 1, members => 'planted_members');
	SELECT count(limaml_adapt(member_id, 'big')) FROM planted_members WHERE member_id <= 3});

my $versions_sql = q{SELECT count(*) || ':' || max(version)
	FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'big'};
my $versions_before = $node->safe_psql('postgres', $versions_sql);
is($versions_before, '1:0', 'one version (the initialization) before training');

my $s = session($node);
my $pid = sq_ok($s, 'SELECT pg_backend_pid()');
my $score_sql = q{SELECT string_agg(limaml_score(e.embedding, i.features)::text, ',' ORDER BY e.member_id, i.item_id)
	FROM limaml_meta_embedding e CROSS JOIN planted_items i WHERE e.model = 'big' AND i.item_id <= 8};
my $scores = sq_ok($s, $score_sql);

# ---------------------------------------------------------- statement_timeout
sq_ok($s, q{SET statement_timeout = '200ms'});
start_async($s, q{SELECT count(*) FROM limaml_train('big', epochs => 100000)});
my ($out, $err, $elapsed) = wait_async($s);
note sprintf('training cancelled by statement_timeout after %.3f s', $elapsed);
like($err, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'limaml_train is cancelled by statement_timeout (57014)');
is($out, '', 'the cancelled training returns no rows');
cmp_ok($elapsed, '<', 1.5, 'cancelled within 1.5 s of the start (timeout 200 ms)');
is($node->safe_psql('postgres', $versions_sql), $versions_before,
	'no version was stored by the cancelled training');
is($node->safe_psql('postgres', q{SELECT active_version FROM limaml_model WHERE name = 'big'}),
	'0', 'the active version is still 0');

sq_ok($s, 'RESET statement_timeout');
is(sq_ok($s, 'SELECT 1'), '1', 'the session still answers after the timeout');
is(sq_ok($s, $score_sql), $scores, 'the session still scores as before');

# ------------------------------------------------------- pg_cancel_backend
start_async($s, q{SELECT count(*) FROM limaml_train('big', epochs => 100000)});
ok($node->poll_query_until('postgres', qq{SELECT state = 'active' AND query LIKE '%limaml_train%'
	FROM pg_stat_activity WHERE pid = $pid}), 'training is running');
select(undef, undef, undef, 0.3);
my $t0 = Time::HiRes::time();
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel requested');
($out, $err) = wait_async($s);
my $lag = Time::HiRes::time() - $t0;
note sprintf('training cancelled %.3f s after pg_cancel_backend', $lag);
like($err, qr/ERROR:  57014: canceling statement due to user request/,
	'limaml_train is cancelled by pg_cancel_backend (57014)');
cmp_ok($lag, '<', 1.5, 'cancelled within 1.5 s of the request');
is($node->safe_psql('postgres', $versions_sql), $versions_before,
	'no version was stored by the cancelled training');

# the model's row lock was released: another session trains at once
is($node->safe_psql('postgres', q{SET lock_timeout = '5s';
	SELECT count(*) FROM limaml_train('big', epochs => 1)}), '1',
	'another session trains the model right after (no lock left behind)');
is($node->safe_psql('postgres', $versions_sql), '2:1', 'that training stored version 1');

# and the cancelled backend itself trains, adapts and scores normally
is(sq_ok($s, q{SELECT count(*) FROM limaml_train('big', epochs => 1)}), '1',
	'the cancelled backend trains again');
is($node->safe_psql('postgres', $versions_sql), '3:2', 'its training stored version 2');
is(sq_ok($s, q{SELECT string_agg((limaml_embedding_info(limaml_adapt(member_id, 'big'))).version::text, ',')
	FROM planted_members WHERE member_id <= 3}), '2,2,2', 'it adapts with version 2');
my $new_scores = sq_ok($s, $score_sql);
is($new_scores, $node->safe_psql('postgres', $score_sql),
	'it scores version 2 like a fresh session');

$s->quit;
$node->stop;

done_testing();
