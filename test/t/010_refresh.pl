# limaml_refresh: cancelled mid-run (pg_cancel_backend and statement_timeout)
# it keeps the batches it committed, another session watches its progress,
# and the next call resumes and ends with every member fresh.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;
use Time::HiRes ();

my $n_members = 1000;
my $batch = 50;
my $node = new_limaml_node('refresh');
planted_data($node, n_members => $n_members, per_member => 30);

# many inner steps, so that a batch takes a noticeable time
$node->safe_psql('postgres', q{SELECT limaml_create_model('rf', 'planted_interactions',
	embedding_dim => 32, global_hidden => '{128, 64}', inner_steps => 200,
	support_size => 30, seed => 1)});

# members at the active version whose fingerprint (newest ts, row count)
# matches their rows, and among every 25th of those, the embeddings equal to
# the aggregate's (a full check would cost a full refresh)
my $fresh_sql = q{
	WITH s AS (SELECT member_id, max(ts) AS ts, count(*) AS n FROM planted_interactions GROUP BY member_id),
	f AS (SELECT e.* FROM s JOIN limaml_meta_embedding e ON e.model = 'rf' AND e.member_id = s.member_id
	       WHERE e.model_version = (SELECT active_version FROM limaml_model WHERE name = 'rf')
	         AND e.source_ts = s.ts AND e.source_rows = s.n)
	SELECT count(*) - count(*) FILTER (WHERE member_id % 25 = 0 AND embedding IS DISTINCT FROM
	         (SELECT limaml_adapt_agg('rf', member_features, item_features, label, ts)
	            FROM planted_interactions p WHERE p.member_id = f.member_id))
	  FROM f};
my $status_sql = q{SELECT state || ':' || members_done || ':' || members_total || ':' || batches_done
	FROM limaml_refresh_status WHERE model = 'rf'};
my $stored_sql = q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'rf'};

my $s = session($node);
my $pid = sq_ok($s, 'SELECT pg_backend_pid()');
sq_ok($s, 'SET client_min_messages = notice');

# ---------------------------------------------------------- pg_cancel_backend
start_async($s, "CALL limaml_refresh('rf', $batch)");

# another session sees it running, batch by batch
ok( $node->poll_query_until(
		'postgres', q{SELECT state = 'running' AND batches_done >= 2
			FROM limaml_refresh_status WHERE model = 'rf'}),
	'another session sees the refresh running with 2 batches committed');
my ($state, $done, $total, $batches) = split /:/, $node->safe_psql('postgres', $status_sql);
is($total, $n_members, 'the progress knows the number of stale members');
cmp_ok($done, '>', 0, "members done so far: $done");
cmp_ok($done, '<', $n_members, 'not all of them yet');
like(
	$node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $pid"),
	qr/CALL limaml_refresh/,
	'pg_stat_activity shows the CALL');

is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel requested');
my ($out, $err) = wait_async($s);
like($err, qr/ERROR:  57014: canceling statement due to user request/,
	'limaml_refresh is cancelled by pg_cancel_backend (57014)');
like($err, qr/NOTICE:  00000: limaml_refresh rf: $n_members stale members in \d+ batches of $batch/,
	'a NOTICE announced the work');
like($err, qr/NOTICE:  00000: limaml_refresh rf: batch 1\/\d+ committed, $batch\/$n_members members/,
	'a NOTICE reported each batch');

($state, $done, $total, $batches) = split /:/, $node->safe_psql('postgres', $status_sql);
is($state, 'interrupted', 'the status says interrupted');
my $stored = $node->safe_psql('postgres', $stored_sql);
is($stored, $done, "the $done members of the committed batches are stored (the running batch is lost)");
is($done, $batches * $batch, 'whole batches only');
is($node->safe_psql('postgres', $fresh_sql), $stored, 'and they are fresh');

# ---------------------------------------------------------- resume
sq_ok($s, 'SET client_min_messages = warning');
my $t0 = Time::HiRes::time();
sq_ok($s, "CALL limaml_refresh('rf', $batch)");
my $full = (Time::HiRes::time() - $t0) * $n_members / ($n_members - $done);
note sprintf('a full refresh takes about %.2f s', $full);
($state, my $done2, my $total2) = split /:/, $node->safe_psql('postgres', $status_sql);
is($state, 'done', 'the next call finishes');
is($total2, $n_members - $done, 'it adapted only the members the cancelled call had not committed');
is($node->safe_psql('postgres', $fresh_sql), $n_members, 'every member is fresh');

# ---------------------------------------------------------- statement_timeout
# new rows for every member, then a refresh under a timeout
$node->safe_psql('postgres', q{INSERT INTO planted_interactions
	SELECT member_id, member_features, item_features, 1 - label, ts + interval '1 day'
	  FROM planted_interactions WHERE ts = (SELECT max(ts) FROM planted_interactions)});
is($node->safe_psql('postgres', $fresh_sql), '0', 'new rows make every member stale');
# about a third of a full refresh
my $timeout_ms = int(1000 * $full / 3) + 100;
sq_ok($s, "SET statement_timeout = '${timeout_ms}ms'");
my ($out3, $err3) = sq($s, "CALL limaml_refresh('rf', $batch)");
like($err3, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'limaml_refresh is cancelled by statement_timeout (57014)');
sq_ok($s, 'RESET statement_timeout');
($state, $done) = split /:/, $node->safe_psql('postgres', $status_sql);
is($state, 'interrupted', 'interrupted again');
is($node->safe_psql('postgres', $fresh_sql), $done, "the $done members of its committed batches are fresh");

# ---------------------------------------------------------- one refresh at a time
start_async($s, "CALL limaml_refresh('rf', $batch)");
ok($node->poll_query_until('postgres', q{SELECT state = 'running' FROM limaml_refresh_status WHERE model = 'rf'}),
	'refresh running again');
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{\set VERBOSITY verbose
	CALL limaml_refresh('rf')});
like($stderr, qr/ERROR:  55P03: limaml_refresh of model "rf" is already running/,
	'a second refresh of the same model is refused while one runs (55P03)');
($out, $err) = wait_async($s);
is($err, '', 'the first one ends normally');
is($node->safe_psql('postgres', $fresh_sql), $n_members, 'every member is fresh at the end');
is(sq_ok($s, "CALL limaml_refresh('rf', $batch)"), '', 'another call has nothing to do');
is($node->safe_psql('postgres', $status_sql), "done:0:0:0", 'and says so');

$s->quit;
$node->stop;
done_testing();
