# The shop tutorial's nightly refresh under pg_cron: the job the README
# schedules runs CALL limaml_refresh in a session of its own (where the
# procedure may commit) and stores every customer's embedding.  Scheduled
# every minute here, so the test waits up to two minutes for its first run.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;
use Time::HiRes ();

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
plan skip_all => 'pg_cron is not installed (Debian: postgresql-15-cron, see test/setup.sh)'
  unless -f "$libdir/pg_cron.so";

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'pg_cron'",
	"cron.database_name = 'postgres'",
	# pg_cron connects through libpq: to this node's socket directory
	"cron.host = '" . $node->host . "'",
	"fsync = off", "log_min_messages = warning", ""));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION limaml; CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', slurp_file(tree_root() . '/test/shop/schema.sql'));

# the tutorial's views and model (untrained: the refresh adapts with version 0)
$node->safe_psql('postgres', q{
CREATE VIEW shop_customers AS
SELECT customer_id AS member_id, country, age, signup_date FROM customers;
CREATE VIEW shop_products AS
SELECT product_id AS item_id, category, price, brand FROM products;
CREATE VIEW shop_interactions AS
SELECT customer_id AS member_id, product_id AS item_id, true AS label, created_at AS ts
  FROM events WHERE event_type IN ('click', 'purchase');
SELECT limaml_create_model('shop', 'shop_interactions',
         members => 'shop_customers', items => 'shop_products', negatives => 4,
         member_columns => '{"country": "onehot", "age": "standardize", "signup_date": "standardize"}',
         item_columns => '{"category": "onehot", "price": "log1p", "brand": {"hash": 16}}');
});

# the README's call, then the same job every minute
my $job = $node->safe_psql('postgres',
	q{SELECT cron.schedule('shop-refresh', '0 3 * * *', $$CALL limaml_refresh('shop')$$)});
like($job, qr/^\d+$/, 'cron.schedule returns a job id');
is($node->safe_psql('postgres', q{SELECT schedule || ' ' || command FROM cron.job WHERE jobname = 'shop-refresh'}),
	q{0 3 * * * CALL limaml_refresh('shop')}, 'the nightly job is stored');
$node->safe_psql('postgres', q{SELECT cron.schedule('shop-refresh', '* * * * *', $$CALL limaml_refresh('shop')$$)});

my $status = '';
my $deadline = Time::HiRes::time() + 150;
while (Time::HiRes::time() < $deadline)
{
	$status = $node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(status || ': ' || coalesce(return_message, ''), '; '), '')
		    FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')});
	last if $status ne '';
	Time::HiRes::sleep(1);
}
like($status, qr/^succeeded/, "pg_cron ran CALL limaml_refresh ($status)");
is($node->safe_psql('postgres', q{SELECT count(*) FROM limaml_meta_embedding WHERE model = 'shop'}),
	'300', 'every customer with events has an embedding');
is($node->safe_psql('postgres', q{SELECT state FROM limaml_refresh_status WHERE model = 'shop'}),
	'done', 'the refresh finished');

$node->safe_psql('postgres', q{SELECT cron.unschedule('shop-refresh')});
$node->stop;
done_testing();
