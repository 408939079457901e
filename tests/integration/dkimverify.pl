#!/usr/bin/perl
# dkimverify.pl - verify the DKIM signatures of one message with Mail::DKIM
# (Debian's libmail-dkim-perl), the public keys given on the command line
# instead of DNS.  An independent check of smtpgate's signatures.
#
# usage: dkimverify.pl MESSAGE NAME=RECORD...
#   NAME is "selector._domainkey.domain", RECORD its TXT value.
# Prints one line per signature, "RESULT d=DOMAIN s=SELECTOR a=ALG DETAIL",
# then "result OVERALL".  Exit 0 if there is a signature and every one
# passed, 1 otherwise, 2 on usage errors.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS;

my ($file, @recs) = @ARGV;
die "usage: dkimverify.pl MESSAGE NAME=RECORD...\n" unless defined $file;
my %rec;
for my $r (@recs) {
	my ($n, $v) = split /=/, $r, 2;
	die "bad NAME=RECORD: $r\n" unless defined $v;
	$rec{lc $n} = $v;
}

# Mail::DKIM asks Mail::DKIM::DNS::query for TXT records: answer from %rec
{
	no warnings 'redefine';
	*Mail::DKIM::DNS::query = sub {
		my ($name, $type) = @_;
		my $v = $rec{lc $name};
		if (!defined $v || uc $type ne 'TXT') {
			$@ = 'NXDOMAIN';
			return;
		}
		my @strings = ($v =~ /(.{1,255})/gs);
		return Net::DNS::RR->new(name => $name, type => 'TXT',
		    txtdata => [@strings]);
	};
}

open(my $fh, '<:raw', $file) or die "$file: $!\n";
my $dkim = Mail::DKIM::Verifier->new();
my $buf;
while (read($fh, $buf, 65536)) {
	$dkim->PRINT($buf);
}
close($fh);
$dkim->CLOSE();

my ($n, $all) = (0, 1);
foreach my $sig ($dkim->signatures) {
	$n++;
	my $r = $sig->result // 'none';
	printf "%s d=%s s=%s a=%s %s\n", $r, $sig->domain // '',
	    $sig->selector // '', $sig->algorithm // '',
	    $sig->result_detail // '';
	$all = 0 if $r ne 'pass';
}
print "result ", $dkim->result // 'none', "\n";
exit($n > 0 && $all ? 0 : 1);
