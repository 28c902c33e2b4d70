#!/usr/bin/perl
# Reads delivery status notifications with Sisimai, the reference bounce parser (Debian
# libsisimai-perl). Usage: sisimai_check.pl FILE... For each file prints one JSON line:
# {"file": ..., "results": [{"recipient", "reason", "status", "diagnostic_type", "action",
# "command", "diagnostic"}]}; an empty list when Sisimai does not see a bounce.
use strict;
use warnings;
use JSON::PP;
use Sisimai;

my $json = JSON::PP->new->canonical(1);
for my $file (@ARGV) {
    my $parsed = Sisimai->make($file, delivered => 1) || [];
    my @results = map {
        {
            recipient       => $_->recipient->address,
            reason          => $_->reason,
            status          => $_->deliverystatus,
            diagnostic_type => $_->diagnostictype,
            action          => $_->action,
            command         => $_->smtpcommand,
            diagnostic      => $_->diagnosticcode,
        }
    } @$parsed;
    print $json->encode({ file => $file, results => \@results }), "\n";
}
