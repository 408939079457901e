#!/usr/bin/perl
# maildkim_verify.pl - verify a message's DKIM signatures with Mail::DKIM
# (libmail-dkim-perl), the public keys given on the command line instead
# of DNS:
#
#   perl maildkim_verify.pl MSGFILE NAME=RECORD [NAME=RECORD ...]
#
# NAME is the full "selector._domainkey.domain" or the selector alone.
#
# Prints one line per signature: "<result> <detail>" (pass, fail, invalid,
# ...), in header order.  Exit 0 if every signature passed, 1 otherwise.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS;

my ($file, @recs) = @ARGV;
die "usage: $0 MSGFILE NAME=RECORD...\n" unless defined $file;
my %rec;
for (@recs) {
	my ($s, $r) = split /=/, $_, 2;
	$rec{lc $s} = $r;
}
{
	# the DNS answer for "<selector>._domainkey.<domain>", from %rec:
	# by the full name, else by the selector
	no warnings 'redefine';
	*Mail::DKIM::DNS::query = sub {
		my ($name, $type) = @_;
		my ($sel) = split /\./, $name;
		my $r = $rec{lc $name} // $rec{lc $sel};
		return () unless defined $r && $type eq 'TXT';
		my @chunks = unpack('(A255)*', $r);
		return (Net::DNS::RR->new(name => $name, type => 'TXT',
		    txtdata => [@chunks]));
	};
}
open(my $fh, '<:raw', $file) or die "$file: $!\n";
my $v = Mail::DKIM::Verifier->new;
while (<$fh>) {
	$v->PRINT($_);
}
$v->CLOSE;
my $ok = 1;
my @sigs = $v->signatures;
$ok = 0 unless @sigs;
for my $s (@sigs) {
	print $s->result, " ", ($s->result_detail // ''), "\n";
	$ok = 0 unless $s->result eq 'pass';
}
exit($ok ? 0 : 1);
