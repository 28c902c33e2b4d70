# English texts of Sluice's delivery status notifications and help pages.
# Every message here must exist in every other locale file (a test checks).
# Labels carry their own colon, as typography differs (French puts a no-break space before
# it). Help texts are read by senders and by their email admins: never an operator command.

mailer-daemon-name = Mail Delivery System
# Shown only by mail readers without MIME; must stay plain ASCII.
mime-preamble = This is a delivery status notification in MIME format (RFC 3464).

subject-failed = Undeliverable: { $subject }
subject-delayed = Delayed: { $subject }
subject-delivered = Delivered: { $subject }

intro-failed = Your message to { $recipients } could not be delivered.
intro-delayed = Your message to { $recipients } has not been delivered yet.
intro-delivered = Your message to { $recipients } was delivered.
next-failed = It will not be tried again. What happened, and how to fix it, is explained below.
next-delayed = The mail system keeps trying; you do not need to send it again. You will be told if it finally fails.
next-delivered = You asked to be told when it was delivered.
list-and-more = { $list } and { $count ->
        [one] one more
       *[other] { $count } more
    }

label-recipient = Recipient:
label-status = Status:
label-remote-reply = Reply from { $server } { $stage }:
label-problem = Problem:
label-retry-until = Will retry until:
label-more-info = More information:

stage-greeting = when the connection opened
stage-hello = to EHLO
stage-starttls = to STARTTLS
stage-mail-from = to MAIL FROM
stage-rcpt-to = to RCPT TO
stage-data = to DATA
stage-end-of-data = at the end of the message
stage-reset = to RSET

problem-connection-refused = The recipient's mail server refused the connection.
problem-timed-out = The recipient's mail server did not answer in time.
problem-unreachable = The recipient's mail server could not be reached over the network.
problem-connection-lost = The connection with the recipient's mail server broke off.
problem-tls-failed = An encrypted connection (TLS) with the recipient's mail server could not be set up.
problem-tls-not-offered = The recipient's mail server does not offer the encryption (STARTTLS) that this route requires.
problem-protocol = The recipient's mail server did not answer as a mail server should.
problem-dns = The DNS lookup for { $domain } failed.
problem-no-address = No address was found for the mail servers of { $domain }.
problem-null-mx = The domain { $domain } declares that it accepts no email (null MX).
problem-no-such-domain = The domain { $domain } does not exist.
problem-unknown-recipient = The domain { $domain } has no recipient with this address.
problem-no-tenant-route = No route to the mail server that receives mail for { $domain } is configured.
problem-local-delivery = The mail system could not store the message in the mailbox.
problem-spool = The mail system could not read the message from its queue.
problem-internal = The mail system met an internal error.
problem-paused = Delivery to { $domain } is paused because its server asked to slow down.
problem-removed = An administrator of this mail system removed the message from its delivery queue before it could be delivered.

note-paused = Delivery to { $domain } is paused until { $until }: its server asked to slow down, so the mail system waits instead of insisting.
note-expired = The mail system tried to deliver this message from { $since } until { $last } and then gave up.

heading-why = Why did I get this?
heading-sender = I'm the sender: what do I do?
heading-admin = I'm the email admin: how do I fix this?
heading-original = Original message details

label-sent = Sent:
label-from = From:
label-to = To:
label-subject = Subject:
label-message-id = Message ID:
label-size = Size:

size-bytes = { $count ->
        [one] 1 byte
       *[other] { $value } bytes
    }
size-kilobytes = { $value } KB
size-megabytes = { $value } MB
decimal-separator = .

date = { $day } { $month } { $year } at { $hour2 }:{ $minute } UTC
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

footer-reported-by = Reported by the mail server { $host }.
footer-attached-headers = The technical report and the headers of your original message are attached.
footer-attached-full = The technical report and your original message are attached.

## Help pages: help-<code>-{ title, why, sender, admin }, codes as in HELP_CODES; Sluice's
## throttling pages also have help-<code>-recipient, for the receiving organisation's admin.

-throttle-recipient-admin = A deferral loses nothing: the sending server keeps the mail and tries again, and more of it is accepted as the sender earns an allowance. If a sender you know and expect mail from is throttled (a partner organisation, a service you use, or your own mail server elsewhere), first check that it is legitimate. Its IP address must belong to that organisation: listed in the SPF record of its domain or in its published documentation, or confirmed when you ask it through a contact you already know (never one given in a message). The deferred mail in your message trace must be mail you expect from it. And the volume must have a reason it confirms, such as a campaign or a migration, rather than a hijacked server. Then create an inbound connector for it in your admin center: a partner connector for another organisation, or an on-premises connector for your own mail server, recognised by its IP addresses or by the name on its TLS certificate, with TLS required. Mail through the connector is attributed to your organisation and is never throttled. Never create a connector for an address you could not verify: that is exactly what spammers ask for.

help-AS501-title = New sending server over its probation allowance
help-AS501-why = The receiving mail service throttles IP addresses it has not seen before. The sending server's address is new to it and sent more mail than a new address is allowed while its history builds up. The mail was deferred, not refused.
help-AS501-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If this notice says delivery finally failed, send the message again later.
help-AS501-admin = Warm the address up: send from it at a modest, steady rate and grow the volume over days; the allowance grows with mail accepted, never with retries. Do not switch to other new addresses. If you write to this organisation regularly, ask its email admin to recognise your servers with an inbound connector (its mail flow is then never throttled), or contact the support of the receiving service.
help-AS501-recipient = { -throttle-recipient-admin }

help-AS502-title = Sudden volume surge from the sending server
help-AS502-why = The sending server's IP address suddenly sent far more mail than it usually does, so the receiving mail service deferred the excess.
help-AS502-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS502-admin = If the surge is legitimate, spread it over several hours or ramp it up over days, or ask the recipient organisation's email admin to recognise your servers with an inbound connector. Otherwise look on the server for a compromised account, a runaway script or an open relay.
help-AS502-recipient = { -throttle-recipient-admin }

help-AS503-title = Sending network over its allowance
help-AS503-why = Many addresses of the sending server's network (the same /24 for IPv4 or /64 for IPv6) sent mail at once, more than the receiving mail service accepts from a network without history.
help-AS503-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS503-admin = Send through fewer IP addresses, used steadily: an address with a sending history is judged on its own history instead of its network's. A recipient organisation you write to regularly can also recognise your servers with an inbound connector.
help-AS503-recipient = { -throttle-recipient-admin }

help-AS504-title = Volume above the sender's usual peak
help-AS504-why = The sending server has a recurring busy period, but this one is much larger than before, so the receiving mail service deferred the excess.
help-AS504-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS504-admin = Grow recurring campaigns gradually from one period to the next, or spread them over more hours.
help-AS504-recipient = { -throttle-recipient-admin }

help-AS505-title = Too many new addresses from the sending network
help-AS505-why = The sending network uses many different IP addresses never seen before (address rotation), and the allowance they share is used up.
help-AS505-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS505-admin = Send from a small, stable set of IP addresses. A stable address builds its own history and is then judged on it.
help-AS505-recipient = { -throttle-recipient-admin }

help-5-7-705-title = Sending organisation over its outbound threshold
help-5-7-705-why = Your organisation's mail service has blocked all outgoing mail from your organisation, because it sent too much spam or bulk mail, or because its subscription is suspended or has expired.
help-5-7-705-sender = Your message was not sent, and no message from your organisation can be sent for now. Tell your email admin, and send the message again once they confirm the block is lifted.
help-5-7-705-admin = Find and stop the source of the spam or bulk mail (compromised accounts, web forms, scripts) and check the subscription. Then ask the operator of the mail service to release your organisation; mail is accepted again as soon as it is released.

help-5-7-708-title = Sending IP address not accepted
help-5-7-708-why = The mail was sent from an IP address on a list of low-reputation sources (the operator's own list or a DNS blocklist), so the receiving mail service refused it.
help-5-7-708-sender = Your message was not delivered. Tell your email admin, or send it from another account or service.
help-5-7-708-admin = Find out why the address is listed (DNS blocklists give the reason) and request its removal, or send through another IP address with a good reputation. If the address is legitimately yours and listed wrongly, ask the recipient's email admin to request an exception for it from the operator of the receiving service: the operator grants exceptions on a request from one of its customers.

help-5-7-750-title = Sender domain not registered
help-5-7-750-why = The message was sent from a domain that your organisation has not added and verified in its mail service. Only a small allowance of such mail is accepted; after it, mail is blocked.
help-5-7-750-sender = Send from an address in one of your organisation's registered domains, or ask your email admin to register this domain.
help-5-7-750-admin = Add the sender domain to your organisation in the admin center and prove you own it with the DNS TXT record shown there. Mail from the domain is accepted as soon as it is verified.

help-5-7-751-title = Daily limit of the initial service domain reached
help-5-7-751-why = The message was sent from your organisation's initial service domain: the name the mail service gave it to get started, a sub-domain of the service's own domain. That domain may write to only a small number of recipients a day, and that number has been reached.
help-5-7-751-sender = Your message was not sent. Send it again from an address in your organisation's own domain, or ask your email admin to set one up.
help-5-7-751-admin = Add your organisation's own domain in the admin center, prove you own it with the DNS TXT record shown there, then send from addresses in that domain. The initial service domain stays limited.

help-4-7-752-title = Sender over its recipient rate limit
help-4-7-752-why = The sender's address wrote to more recipients in the last hour, or in the last 24 hours, than the mail service allows a single address. The excess was deferred, not refused.
help-4-7-752-sender = Nothing, in most cases: your organisation's mail server retries and the message goes out once the limit frees up; the server's reply says when. If this notice says delivery finally failed, send the message again later, or to fewer recipients at a time.
help-4-7-752-admin = If this address legitimately writes to many recipients (newsletters, notifications), spread the sending over more time, or ask the operator of the mail service to raise the limit. If it should not send this much, check the account for compromise.

help-5-7-509-title = Sender domain fails its own DMARC policy
help-5-7-509-why = The message claims to come from a domain whose owner publishes a DMARC policy asking receivers to reject mail that does not prove it comes from that domain, and neither SPF nor DKIM proved it: the sending server is not listed in the domain's SPF record, and the message carries no valid DKIM signature of the domain.
help-5-7-509-sender = Your message was not delivered. If you sent it through a service or a mailing list, send it directly from your own mail account instead, and tell your email admin.
help-5-7-509-admin = Make the servers that send for the domain pass DMARC: list them in the domain's SPF record (for the envelope sender's domain, aligned with the From domain) or sign their mail with DKIM for the From domain, and check the domain's DMARC reports for other sources. A forwarding service should keep DKIM signatures intact or use ARC.

help-5-7-510-title = Recipient's own domain used from outside
help-5-7-510-why = The message claims to come from a domain that belongs to the recipient's own organisation, but it neither arrived through one of that organisation's declared mail servers nor proved with SPF or DKIM that it comes from the domain. Mail like this is usually a forgery (impersonating a colleague or the organisation itself), so the receiving service refuses it.
help-5-7-510-sender = Your message was not delivered. If you are a member of this organisation, send through its usual mail service; otherwise, send from your own address.
help-5-7-510-admin = If a legitimate server (a partner, a marketing or ticketing service) sends with your domain, add it to the domain's SPF record or have it sign with DKIM for your domain, or declare it as an inbound connector of your organisation in the mail service.

help-5-7-520-title = Message rejected as spam
help-5-7-520-why = The receiving service's content filter judged the message to be spam, and the recipient organisation's policy is to refuse such mail rather than hold it.
help-5-7-520-sender = Your message was not delivered. Remove what looks like spam (many links, shortened URLs, attachments of risky types, wording typical of bulk offers) or contact the recipient another way.
help-5-7-520-admin = Check whether the sending server or its domain is on blocklists, that SPF, DKIM and DMARC pass for the sending domain, and that the content is not bulk mail sent without consent. If a legitimate message keeps being refused, ask the recipient organisation's email admin to review it.

help-scanner-unavailable-title = Content scanner temporarily unavailable
help-scanner-unavailable-why = The receiving service scans every message before accepting it, and its scanner could not judge this one in time, so the message was deferred rather than accepted unchecked.
help-scanner-unavailable-sender = Nothing to do: your mail server tries again automatically, and the message is delivered once the scanner answers.
help-scanner-unavailable-admin = Nothing to do on your side: your server's queue retries. If the message stays queued for hours, contact the receiving organisation.

help-5-7-51-title = Sender domain restricted to another route
help-5-7-51-why = The recipient organisation accepts mail from this sender domain only when it arrives through the connection it set up for that sender (a connector that names the sending servers), and this message arrived another way.
help-5-7-51-sender = Send through your organisation's usual mail server. If you did, tell your email admin.
help-5-7-51-admin = Send this domain's mail only through the servers that the recipient organisation's connector names (by IP address or TLS certificate), or ask the recipient organisation's email admin to update its connector.

help-5-7-1-title = Relaying denied
help-5-7-1-why = The receiving server does not accept mail for the recipient's domain from the sending server: the domain is not one it serves, or the sender is not allowed to relay mail through it.
help-5-7-1-sender = Check the recipient's address, especially the part after the @. If it is correct, tell your email admin, and contact the recipient another way meanwhile.
help-5-7-1-admin = Check that the recipient domain's MX records name servers that accept its mail. If you send through a smart host or a connector for this domain, make sure it relays for your servers. If you run the receiving gateway and the domain should be served, add it as an accepted domain of the right organisation, or recognise the sending server with an inbound connector.

help-5-1-1-title = Recipient address does not exist
help-5-1-1-why = The recipient's mail server says there is no mailbox with this address.
help-5-1-1-sender = Check the address for typos, or ask the recipient for their current address, then send the message again.
help-5-1-1-admin = If the address should exist, create the mailbox or alias on the recipient's mail server, or fix the directory synchronisation that should have created it.

help-5-1-3-title = Address not accepted
help-5-1-3-why = The recipient address is written in a form that the receiving server does not accept: a syntax error, or a form that routes mail around relay controls (a percent sign, an exclamation mark, a quoted local part).
help-5-1-3-sender = Check the address for typos and write it as a plain name@domain, then send the message again.
help-5-1-3-admin = If a program writes such addresses, make it use plain name@domain addresses.

help-5-2-1-title = Mailbox or domain disabled
help-5-2-1-why = The recipient's mailbox, or the whole recipient domain, is disabled or suspended and does not accept mail.
help-5-2-1-sender = Contact the recipient another way to get a current address.
help-5-2-1-admin = If the mailbox or domain is yours, enable it again, or settle the subscription with the mail service that hosts it.

help-4-2-1-title = Recipient's organisation suspended for now
help-4-2-1-why = The recipient's organisation is suspended on its mail service for the moment (a billing or security matter its provider is sorting out). The mail is not refused for good: the sending server keeps it and tries again.
help-4-2-1-sender = Nothing to do yet: your mail server retries on its own for several days. If the message bounces in the end, contact the recipient another way.
help-4-2-1-admin = Nothing to change on your side: your server keeps the message in its queue and retries. If the recipient expects your mail, they can ask their mail service when the suspension ends.

help-5-7-10-title = Encryption (TLS) required
help-5-7-10-why = The mail had to travel over an encrypted connection (STARTTLS), by a rule of the receiving server or of a connector, and the connection was not encrypted, or not with a valid certificate.
help-5-7-10-sender = Tell your email admin; you cannot fix this from your mail program. Send the message again once they confirm the problem is solved.
help-5-7-10-admin = Make sure both servers offer STARTTLS with a valid, unexpired certificate whose name matches the server, and that they share a TLS version. When a connector requires a verified certificate, its TLS setting names the rule that applied.

help-5-3-4-title = Message too big
help-5-3-4-why = The message is larger than the receiving server accepts.
help-5-3-4-sender = Remove or shrink attachments (share a link to the file instead) and send the message again.
help-5-3-4-admin = Compare the message size limit of each server on the way with what your users send; raise the limit where you control it, or offer a file sharing service for large files.

help-4-3-0-title = Temporary problem on a mail system
help-4-3-0-why = A mail system on the way could not store or process the message because of a temporary problem, for example storage that is full or unavailable. The message is kept and retried.
help-4-3-0-sender = Nothing: the message is retried automatically. If this notice says delivery finally failed, send the message again later.
help-4-3-0-admin = The reply or problem in this report names the system that failed. If it persists, give its operator the time and the queue ID from this report.

help-5-4-6-title = Mail loop detected
help-5-4-6-why = The message passed through too many mail servers (more than 50): it is going round in a loop between servers that forward it to each other.
help-5-4-6-sender = Tell your email admin, and send the message again once they have found the loop.
help-5-4-6-admin = The Received lines of the message's header show which servers forward it to each other; fix their forwarding, routing or MX records so that one of them delivers it.

help-5-3-0-title = Message removed by an administrator
help-5-3-0-why = An administrator of the mail system that held the message removed it from the delivery queue before it could be delivered, for example because it could not be delivered for a long time, was sent by mistake or looked harmful. The message was not delivered to the recipients this report lists and will not be.
help-5-3-0-sender = If the message is still needed, check the recipients' addresses and send it again, or reach the recipients another way. If you do not know why it was removed, ask your email admin.
help-5-3-0-admin = The report names the mail system (Reporting-MTA) and the queue ID of the message. Ask that system's operator why it was removed; if the destination could not be reached, check the recipient domain's MX records and servers before the message is sent again.

help-5-2-2-title = Recipient's mailbox is full
help-5-2-2-why = The recipient's mailbox has reached its storage quota and cannot accept more mail.
help-5-2-2-sender = Contact the recipient another way so that they free up space, then send the message again.
help-5-2-2-admin = Raise the mailbox quota, or help the user archive or delete old mail.

help-auth-failed-title = Sender authentication failed (SPF, DKIM or DMARC)
help-auth-failed-why = The recipient's server checked whether the message really comes from the sender's domain (with SPF, DKIM and DMARC), the check failed, and the domain's own DMARC policy told it to refuse such mail.
help-auth-failed-sender = Tell your email admin: the message was refused because of your domain's settings, not because of what it says. Send it again once they have fixed them.
help-auth-failed-admin = List every server that sends mail for your domain in its SPF record, sign outgoing mail with DKIM for the domain of the From address, and set a DMARC policy that matches how you send; if your mail leaves through this service, include its outbound servers as its documentation says. The DMARC reports your domain receives show which sources fail.

help-spam-title = Refused as spam or unsafe content
help-spam-why = The recipient's server's content filter judged the message to be spam, bulk mail or dangerous (a virus, a phishing link) and refused it.
help-spam-sender = If the message is legitimate, remove what looks suspicious (shortened links, many links, images without text, attachments with macros or programs) and send it again, or contact the recipient another way.
help-spam-admin = Check the sending account for compromise and the message for content that filters dislike. Authenticate your domain with SPF, DKIM and DMARC, which filters reward. If legitimate mail keeps being refused, ask the recipient's email admin to review the filter's verdict.

help-blocklisted-title = Sending IP address on a blocklist
help-blocklisted-why = The recipient's server refused the message because the IP address it came from is on a blocklist (for example Spamhaus) or has a poor reputation with the receiving service.
help-blocklisted-sender = Your message was not delivered; this is not about its content. Tell your email admin, and contact the recipient another way meanwhile.
help-blocklisted-admin = The reply names the list. Look the sending IP address up on that list's website, fix the cause it gives (a compromised account, an open relay, a script sending spam) and request removal as the list describes. If the address belongs to the mail service you send through, give its operator the reply.

help-throttled-title = Sending server throttled by the recipient's service
help-throttled-why = The recipient's mail service limits how much mail it accepts from a sending IP address that is new to it or suddenly sends more than usual, and it deferred this message with a temporary error. The mail system retried, waiting between attempts, until the message was accepted or the time allowed ran out.
help-throttled-sender = Nothing, in most cases: the mail system retries automatically. If this notice says delivery finally failed, send the message again later; to many recipients at that service, send in smaller batches.
help-throttled-admin = The receiving service throttles the IP address your mail leaves from. Warm it up: a modest, steady volume that grows over days rather than bursts. Ask the recipient organisation's email admin to add a connector for your sending servers on their side (trusted mail flow is not throttled), or contact the receiving service's support with the reply quoted in this report. DNS changes do not help.

help-policy-title = Refused by the recipient's server's policy
help-policy-why = The recipient's mail server refused the message because of one of its own rules. Its reply, quoted in this report, usually names the rule.
help-policy-sender = Read the server's reply in this report. If it names something you can change (an attachment type, a link, the sending address), change it and send the message again; otherwise contact the recipient another way and tell your email admin.
help-policy-admin = The reply names the rule. Check the SPF, DKIM and DMARC records of the sending domain, the reputation of your sending IP addresses and the message's content; if it is still unclear, write to the recipient organisation's postmaster with the reply and the time.

help-5-1-2-title = Recipient domain does not exist
help-5-1-2-why = The part of the address after the @ is not a domain that exists in the DNS, so there is no server to deliver to.
help-5-1-2-sender = Check the address for typos, especially after the @, and send the message again.
help-5-1-2-admin = If the domain should exist, check its registration and its DNS delegation.

help-5-1-10-title = Recipient domain accepts no email
help-5-1-10-why = The recipient's domain declares in the DNS that it accepts no email at all (a null MX record, RFC 7505).
help-5-1-10-sender = This address cannot receive email. Check it, or contact the recipient another way.
help-5-1-10-admin = If the domain should receive email, replace its null MX record with MX records that name its mail servers.

help-4-4-1-title = Recipient's server could not be reached
help-4-4-1-why = The mail system could not hold a conversation with the recipient's mail server: the connection was refused, timed out or broke off. It keeps trying for a while before giving up.
help-4-4-1-sender = Nothing for now: delivery is retried automatically. If this notice says delivery finally failed, check the address and contact the recipient another way.
help-4-4-1-admin = The recipient's servers are down, unreachable, or refuse connections from this mail system. If the recipient domain is yours, check that its MX hosts are up and accept connections on port 25, and that no firewall blocks them.

help-4-4-3-title = DNS lookup of the recipient's domain failed
help-4-4-3-why = The mail system could not find out where to deliver mail for the recipient's domain: its DNS servers did not answer, or answered with an error.
help-4-4-3-sender = Nothing for now: delivery is retried automatically. If this notice says delivery finally failed, send the message again later.
help-4-4-3-admin = If the recipient domain is yours, check that its DNS servers answer and that its MX records resolve. Otherwise the problem lies with the recipient's DNS.

help-4-4-4-title = No route to the organisation's own mail server
help-4-4-4-why = The recipient domain belongs to an organisation that receives its mail on its own server, but no route to that server is set up in the mail service, so the mail system does not know where to deliver.
help-4-4-4-sender = Nothing for now: delivery is retried for a while. If this notice says delivery finally failed, contact the recipient another way.
help-4-4-4-admin = If the domain is yours, add an outbound connector in the admin center that sends mail for this domain to your own mail server (its smart hosts). Messages waiting in the queue go out once it exists.

help-4-4-7-title = Delivery time expired
help-4-4-7-why = The mail system tried to deliver the message for a long time, each attempt failing temporarily, and gave up after the longest time a message may wait in its queue.
help-4-4-7-sender = Send the message again later. If it fails again, contact the recipient another way.
help-4-4-7-admin = The last reply or problem quoted in this report names the cause: a server that could not be reached, one that kept deferring the message, or one that asked to slow down. Fix that cause on the side it points to.

help-4-0-0-title = Temporary failure at the receiving server
help-4-0-0-why = The receiving mail server answered with a temporary error, so delivery is tried again.
help-4-0-0-sender = Nothing: the message is retried automatically. You will be told if it finally fails.
help-4-0-0-admin = The reply in this report names the cause. If it persists, contact the admin of the receiving server with the reply and the time.

help-5-0-0-title = Refused by the receiving server
help-5-0-0-why = The receiving mail server refused the message permanently.
help-5-0-0-sender = Read the server's reply in this report; it usually says what to change. Fix the problem and send the message again, or contact the recipient another way.
help-5-0-0-admin = The reply names the cause. Fix it on the sending side, or contact the admin or postmaster of the receiving server with the reply and the time.
