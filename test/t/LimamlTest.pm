
# Helpers shared by the limaml TAP tests (test/t/*.pl).
#
# Sessions are PostgreSQL::Test::BackgroundPsql objects started with
# ON_ERROR_STOP off and VERBOSITY verbose, so an expected error leaves the
# session usable and its stderr carries "ERROR:  <SQLSTATE>: <message>".

package LimamlTest;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use FindBin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

our @EXPORT = qw(
  tree_root new_limaml_node planted_data
  session sq sq_ok sq_err start_async wait_async
  wait_for_lock_wait
);

# the source tree root: TESTDIR from the Makefile, else relative to test/t
sub tree_root
{
	return $ENV{TESTDIR}
	  if defined $ENV{TESTDIR} && -f "$ENV{TESTDIR}/test/data/planted.sql";
	return "$FindBin::RealBin/../..";
}

# a started node; the extension is created in "postgres" unless told not to
sub new_limaml_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"max_connections = 20\nfsync = off\nlog_min_messages = warning\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION limaml')
	  unless $opts{no_extension};
	return $node;
}

# runs test/data/planted.sql with its psql variables; extra variables
# override the defaults (a small but learnable data set)
sub planted_data
{
	my ($node, %args) = @_;
	my $db = delete $args{db} // 'postgres';
	my $user = delete $args{user};
	my %vars = (
		n_members => 200,
		n_items => 64,
		n_genres => 8,
		per_member => 40,
		p_fav => 0.8,
		p_other => 0.1,
		seed => 0.42,
		%args);
	my @cmd = ('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr($db));
	push @cmd, '-U', $user if defined $user;
	push @cmd, map { ('-v', "$_=$vars{$_}") } sort keys %vars;
	push @cmd, '-f', tree_root() . '/test/data/planted.sql';
	$node->command_ok(\@cmd,
		'planted data generated' . (defined $user ? " as $user" : ''));
	return;
}

# a long-lived session
sub session
{
	my ($node, %opts) = @_;
	my $s = $node->background_psql(
		$opts{db} // 'postgres',
		on_error_stop => 0,
		timeout => $opts{timeout} // 120,
		(defined $opts{user} ? (extra_params => [ '-U', $opts{user} ]) : ()));
	$s->set_query_timer_restart;
	sq_ok($s, "\\set VERBOSITY verbose");
	sq_ok($s, "SET client_min_messages = warning");
	return $s;
}

# runs one query; returns (stdout, stderr) of that query only
sub sq
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my ($out, $ret) = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	$out =~ s/\s+\z//;
	return ($out, $err);
}

# runs a query that must succeed; dies otherwise
sub sq_ok
{
	my ($s, $sql) = @_;
	my ($out, $err) = sq($s, $sql);
	die "query failed: $sql\n$err" if $err ne '';
	return $out;
}

# runs a query that should fail; returns its stderr (empty when it did not)
sub sq_err
{
	my ($s, $sql) = @_;
	my ($out, $err) = sq($s, $sql);
	note "unexpected success of: $sql => $out" if $err eq '';
	return $err;
}

my $async_seq = 0;

# sends a query without waiting for it; wait_async collects its result
sub start_async
{
	my ($s, $sql) = @_;
	my $tag = 'limaml_async_' . (++$async_seq);
	$s->{stderr} = '';
	$s->{stdout} = '';
	$s->{async_tag} = $tag;
	$s->{async_start} = time;
	$s->{timeout}->start();
	$s->{stdin} .= "$sql\n;\n\\echo '$tag'\n\\warn '$tag'\n";
	$s->{run}->pump_nb();
	return;
}

# (stdout, stderr, seconds since start_async) of the pending query
sub wait_async
{
	my ($s) = @_;
	my $tag = $s->{async_tag} or die "no pending query";
	my $match = qr/\Q$tag\E\r?\n/;
	$s->{run}->pump()
	  until ($s->{stdout} =~ $match && $s->{stderr} =~ $match)
	  || $s->{timeout}->is_expired;
	die "async query timed out" if $s->{timeout}->is_expired;
	my $elapsed = time - $s->{async_start};
	my ($out, $err) = ($s->{stdout}, $s->{stderr});
	$out =~ s/\r?\n?\Q$tag\E\r?\n//;
	$err =~ s/\r?\n?\Q$tag\E\r?\n//;
	$out =~ s/\s+\z//;
	$s->{stdout} = $s->{stderr} = '';
	delete $s->{async_tag};
	return ($out, $err, $elapsed);
}

# waits until $n backends whose query matches $like wait on a lock
sub wait_for_lock_wait
{
	my ($node, $like, $n) = @_;
	$n //= 1;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) >= $n FROM pg_stat_activity
		 WHERE wait_event_type = 'Lock' AND query LIKE '$like'
		   AND pid <> pg_backend_pid()});
}

1;
