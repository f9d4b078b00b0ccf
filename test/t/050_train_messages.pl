# limaml_train's closing NOTICE names the kept epoch (the one flagged in its
# rows and recorded in the version), and a jumping loss gets a WARNING with
# its DETAIL and HINT.  Messages carry CPU-dependent loss digits, so this is
# a TAP test rather than a regress one.

use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LimamlTest;

my $node = new_limaml_node('train_messages');
planted_data($node, n_members => 120, n_items => 32, n_genres => 4, per_member => 20,
	p_fav => 0.9, seed => 0.27);

my ($ret, $out, $err) = $node->psql('postgres', q{
	SELECT limaml_create_model('m', 'planted_interactions', embedding_dim => 4, seed => 3);
	SELECT epoch FROM limaml_train('m', epochs => 15, outer_lr => 0.05, patience => 2,
	                               validation_fraction => 0.3) WHERE kept;
	SELECT training->>'kept_epoch' || '/' || (training->>'epochs_run')
	  FROM limaml_model_version v JOIN limaml_model m USING (model_id)
	 WHERE m.name = 'm' AND v.version = m.active_version});
is($ret, 0, 'training with early stopping succeeds');
my ($id, $kept, $recorded) = split /\n/, $out;
my ($kept_epoch, $epochs_run) = split m{/}, $recorded;
is($kept, $kept_epoch, 'the flagged row is the recorded kept epoch');
like($err, qr/NOTICE:  limaml_train "m": kept epoch $kept of $epochs_run\n/,
	'the closing NOTICE names the kept epoch');
like($err, qr/kept epoch \d+ of \d+\nDETAIL:  Adapted validation loss \d+\.\d{4}\./,
	'its DETAIL gives the kept epoch\'s adapted validation loss');
unlike($err, qr/WARNING/, 'a calm training warns of nothing');

($ret, $out, $err) = $node->psql('postgres', q{
	SELECT limaml_create_model('j', 'planted_interactions', embedding_dim => 4, seed => 3, inner_lr => 10);
	SELECT count(*) FROM limaml_train('j', epochs => 2, outer_lr => 1, validation_fraction => 0.3,
	                                  lr_schedule => 'constant', weight_decay => 0)});
is($ret, 0, 'a jumping training still stores its version');
like($err,
	qr/WARNING:  limaml "j" epoch 2: the adapted validation loss more than doubled\nDETAIL:  From \d+\.\d+ to \d+\.\d+\.\nHINT:  Lower outer_lr, set clip_norm, or set patience/,
	'the jump is a WARNING with the losses and a hint');

($ret, $out, $err) = $node->psql('postgres', q{
	SELECT count(*) FROM limaml_train('m', epochs => 1, validation_fraction => 0)});
like($err, qr/kept epoch 1 of 1\nDETAIL:  Training loss \d+\.\d{4} \(no validation members\)\./,
	'without validation members the NOTICE gives the training loss');

$node->stop;
done_testing();
