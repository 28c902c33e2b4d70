# English texts of Sluice's delivery status notifications and help pages.
# Every message here must exist in every other locale file (a test checks).
# Variables: { $subject } original subject, { $server } / { $host } host names,
# { $since } / { $last } dates. Labels carry their own colon, as typography differs
# (French puts a space before it).

mailer-daemon-name = Mail Delivery System

subject-failed = Undeliverable: { $subject }
subject-delayed = Delayed: { $subject }
subject-delivered = Delivered: { $subject }

intro-failed = Your message could not be delivered to the recipient(s) below. It will not be retried. What happened and how to fix it is explained for each recipient.
intro-delayed = Your message has not been delivered yet to the recipient(s) below. The mail system keeps trying; you do not need to send it again. You will be told if it finally fails.
intro-delivered = Your message was delivered to the recipient(s) below, as you asked to be told.

label-recipient = Recipient:
label-status = Status:
label-remote-reply = Reply from { $server }:
label-retry-until = Will retry until:
label-more-info = More information:

note-expired = The mail system tried to deliver this message from { $since } until { $last } and then gave up.

heading-why = Why did I get this?
heading-sender = I'm the sender: what do I do?
heading-admin = I'm the email admin: how do I fix this?

footer-reported-by = Reported by the mail server { $host }.
footer-attached-headers = The technical report and the headers of your original message are attached.
footer-attached-full = The technical report and your original message are attached.

## Help texts: help-<code>-{ title, why, sender, admin }, codes as in HELP_CODES.

help-AS501-title = New sending server over its probation allowance
help-AS501-why = The sending server's IP address is new to the receiving gateway, and it sent more mail than a new address is allowed while its history builds up. The mail was deferred, not refused.
help-AS501-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If this notice says delivery finally failed, send the message again later.
help-AS501-admin = Send from this IP address at a modest, steady rate and grow the volume over days; the allowance grows with mail accepted, never with retries. Do not rotate to other new addresses.

help-AS502-title = Sudden volume surge from the sending server
help-AS502-why = The sending server's IP address suddenly sent far more mail than it normally does, so the receiving gateway deferred the excess.
help-AS502-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS502-admin = If the surge is legitimate, spread it over several hours or ramp it up over days. Otherwise check the server for a compromised account, a runaway script or an open relay.

help-AS503-title = Sending network over its allowance
help-AS503-why = Many addresses of the sending server's network (the same /24 for IPv4 or /64 for IPv6) sent mail at once, more than the receiving gateway accepts from a network without history.
help-AS503-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS503-admin = Send through fewer IP addresses that are used steadily; a single address with a sending history is judged on its own history instead of its network's.

help-AS504-title = Volume above the sender's usual peak
help-AS504-why = The sending server has a recurring busy period, but this one is much larger than before, so the receiving gateway deferred the excess.
help-AS504-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS504-admin = Grow recurring campaigns gradually from one period to the next, or spread them over more hours.

help-AS505-title = Too many new addresses from the sending network
help-AS505-why = The sending network uses many different, previously unseen IP addresses (address rotation), and the allowance shared among them is exhausted.
help-AS505-sender = Nothing, in most cases: your mail server retries and the message is accepted later. If delivery finally failed, send the message again later.
help-AS505-admin = Send from a small, stable set of IP addresses. A stable address builds its own history and is then judged on it.

help-5-7-705-title = Sending organisation over its outbound threshold
help-5-7-705-why = Your organisation's mail service has blocked all outgoing mail from your organisation because it sent too much spam or bulk mail, or because its subscription is suspended or expired.
help-5-7-705-sender = Your message was not sent, and no message from your organisation can be sent for now. Tell your email admin; resend the message once they confirm the block is lifted.
help-5-7-705-admin = Find and stop the source of the spam or bulk mail (compromised accounts, forms, scripts) and check the subscription. Then ask the operator of the mail service to release the tenant; mail is accepted again once released.

help-5-7-708-title = Sending IP address not accepted
help-5-7-708-why = The mail was sent from an IP address on a list of low-reputation sources (the operator's list or a DNS blocklist), so the receiving gateway refused it.
help-5-7-708-sender = Your message was not delivered. Tell your email admin, or send it from another account or service.
help-5-7-708-admin = Check why the address is listed (DNS blocklists show the reason) and request delisting, or send through another, reputable IP address. If the address is legitimately yours, ask the operator of the receiving service for an exception.

help-5-7-750-title = Sender domain not registered
help-5-7-750-why = The message was sent from a domain that your organisation has not added and verified in its mail service. Only a small allowance of such mail is accepted; after it, mail is blocked.
help-5-7-750-sender = Send from an address in one of your organisation's registered domains, or ask your email admin to register this domain.
help-5-7-750-admin = Add the sender domain to the tenant in the admin center and prove it with the DNS TXT token shown there. Mail from the domain is accepted as soon as it is verified.

help-5-7-751-title = Daily limit of the initial service domain reached
help-5-7-751-why = The message was sent from your organisation's initial service domain, the name the mail service gave it to get started (such as yourorganisation.<service domain>). That domain may send to only a small number of recipients a day, and that number has been reached.
help-5-7-751-sender = Your message was not sent. Send it again from an address in your organisation's own domain, or ask your email admin to set one up.
help-5-7-751-admin = Add your organisation's own domain to the tenant in the admin center (or with sluice domain add and sluice domain verify), prove it with the DNS TXT token shown there, then send from addresses in that domain. The service domain stays limited.

help-4-7-752-title = Sender over its recipient rate limit
help-4-7-752-why = The sender's address sent to more recipients in the last hour, or in the last 24 hours, than the mail service allows a single address. The excess was deferred, not refused.
help-4-7-752-sender = Nothing, in most cases: your organisation's mail server retries and the message goes out once the limit frees up; the server's reply says when. If this notice says delivery finally failed, send the message again later, or to fewer recipients at a time.
help-4-7-752-admin = If this address legitimately writes to many recipients (newsletters, notifications), spread the sending over more time, or ask the operator of the mail service to raise the limit. If it should not send this much, check the account for compromise.

help-5-7-1-title = Relaying denied
help-5-7-1-why = The receiving server does not accept mail for the recipient's domain: it is neither a domain it serves nor one you are allowed to send to through it.
help-5-7-1-sender = Check the recipient's address, in particular the part after the @. If it is correct, the recipient's mail settings are wrong: contact them another way.
help-5-7-1-admin = If the domain should be served, add it as an accepted domain of the right tenant. If your users send outbound mail through this gateway, make sure their server is recognised by an inbound connector (its IP range or certificate).

help-5-1-1-title = Recipient address does not exist
help-5-1-1-why = The recipient's mail server says there is no mailbox with this address.
help-5-1-1-sender = Check the address for typos, or ask the recipient for their current address, then send the message again.
help-5-1-1-admin = If the address should exist, create the mailbox or alias on the recipient's mail server, or fix the directory synchronisation that should have created it.

help-5-7-10-title = Encryption (TLS) required
help-5-7-10-why = A connector rule requires this mail to travel over an encrypted connection (STARTTLS), and the connection was not encrypted, or encryption could not be set up with a valid certificate.
help-5-7-10-sender = Tell your email admin; you cannot fix this from your mail client. Send the message again once they confirm the problem is solved.
help-5-7-10-admin = Enable STARTTLS on the sending server with a valid certificate, or check the certificate and TLS versions on the receiving side. The connector's TLS setting names the rule that applied.

help-5-3-4-title = Message too big
help-5-3-4-why = The message is larger than the receiving server accepts.
help-5-3-4-sender = Remove or shrink attachments (send a link to a shared file instead) and send the message again.
help-5-3-4-admin = Compare the message size limit of each hop with what your users send; raise the limit where you control it, or offer a file sharing service for large files.

help-4-3-0-title = Temporary problem on the mail system
help-4-3-0-why = The mail system could not store or process the message because of a temporary problem, for example storage that is full or unavailable.
help-4-3-0-sender = Nothing: the message is kept and retried automatically. If this notice says delivery finally failed, send the message again later.
help-4-3-0-admin = Check free disk space and the health of the storage and of the services on the reporting server; the logs there name the failing step.

help-5-2-2-title = Recipient's mailbox is full
help-5-2-2-why = The recipient's mailbox has reached its storage quota and cannot accept more mail.
help-5-2-2-sender = Contact the recipient another way so that they free up space, then send the message again.
help-5-2-2-admin = Raise the mailbox quota, or help the user archive or delete old mail.

help-5-4-7-title = Delivery time expired
help-5-4-7-why = The mail system retried delivery for a long time, each attempt failing temporarily, and gave up after the maximum time a message may stay in its queue.
help-5-4-7-sender = Send the message again later. If it keeps failing, the recipient's server may be down or misconfigured: contact the recipient another way.
help-5-4-7-admin = The last remote reply in this report names the cause. Check that the recipient's domain has working MX records and that its servers accept connections from this mail system.

help-4-0-0-title = Temporary failure at the receiving server
help-4-0-0-why = The receiving mail server answered with a temporary error, so delivery will be tried again.
help-4-0-0-sender = Nothing: the message is retried automatically. You will be told if it finally fails.
help-4-0-0-admin = The remote reply in this report names the cause. If it persists, contact the admin of the receiving server.

help-5-0-0-title = Refused by the receiving server
help-5-0-0-why = The receiving mail server refused the message permanently.
help-5-0-0-sender = Read the reply of the receiving server in this report; it usually says what to change. Fix the problem and send the message again, or contact the recipient another way.
help-5-0-0-admin = The remote reply names the cause (policy, content, authentication such as SPF, DKIM or DMARC). Fix it on the sending side or contact the admin of the receiving server.
