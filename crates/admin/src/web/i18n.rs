//! The web pages' words in English and French. One macro line per text gives both
//! languages, so a text cannot exist in one and be missing in the other (the compiler
//! refuses), and [`texts`] lists them for the tests that look for English left on a
//! French page. Texts with `{}` take values through [`fill`].

use bounce::Lang;

macro_rules! words {
    ($($key:ident: $en:literal, $fr:literal;)*) => {
        /// Every text of the web pages, in one language.
        #[derive(Debug)]
        pub struct Words { $(pub $key: &'static str,)* }
        pub const EN: Words = Words { $($key: $en,)* };
        pub const FR: Words = Words { $($key: $fr,)* };
        /// (key, English, French) of every text.
        pub fn texts() -> Vec<(&'static str, &'static str, &'static str)> {
            vec![$((stringify!($key), $en, $fr),)*]
        }
    };
}

words! {
    app_name: "Sluice admin center", "Centre d'administration Sluice";
    skip: "Skip to content", "Aller au contenu";
    nav_label: "Main menu", "Menu principal";
    home: "Home", "Accueil";
    domains: "Domains", "Domaines";
    connectors: "Connectors", "Connecteurs";
    trace: "Message trace", "Suivi des messages";
    throttling: "Throttling", "Limitation";
    requests: "Requests", "Demandes";
    queue: "Queue", "File d'attente";
    audit: "Audit log", "Journal d'audit";
    help: "Help", "Aide";
    sign_out: "Sign out", "Se déconnecter";
    language: "Language", "Langue";
    signed_in_as: "Signed in as {} ({})", "Connecté en tant que {} ({})";
    tenant: "Tenant", "Client";
    all_tenants: "All tenants", "Tous les clients";
    switch_tenant: "Show", "Afficher";
    role_operator: "operator", "opérateur";
    role_support: "support", "support";
    role_tenant_admin: "tenant admin", "administrateur du client";
    role_tenant_reader: "tenant reader", "lecteur du client";
    login_title: "Sign in", "Connexion";
    login_intro: "Sign in with an API token (an operator creates one with sluice token create). The token is kept on the server for this session only.", "Connectez-vous avec un jeton d'API (un opérateur en crée un avec sluice token create). Le jeton reste sur le serveur, pour cette session seulement.";
    token: "Token", "Jeton";
    sign_in: "Sign in", "Se connecter";
    login_failed: "This token is not valid: it is unknown, revoked or expired.", "Ce jeton n'est pas valable : il est inconnu, révoqué ou expiré.";
    login_slow_down: "Too many sign-in attempts from this address. Wait {} seconds.", "Trop de tentatives de connexion depuis cette adresse. Attendez {} secondes.";
    csrf_title: "This form has expired", "Ce formulaire a expiré";
    csrf_text: "The form was sent without this session's security code (it is too old, or it came from another site). Nothing was changed. Open the page again and resend it.", "Le formulaire a été envoyé sans le code de sécurité de cette session (il est trop ancien ou provient d'un autre site). Rien n'a été modifié. Rouvrez la page et renvoyez-le.";
    error_title: "Something went wrong", "Une erreur s'est produite";
    not_found_title: "Not found", "Introuvable";
    not_found_text: "This page or object does not exist, or you may not see it.", "Cette page ou cet objet n'existe pas, ou vous n'avez pas le droit de le voir.";
    forbidden_text: "Your role may not do this.", "Votre rôle ne permet pas cette action.";
    unavailable_text: "The running server does not answer. Is sluice serve running?", "Le serveur ne répond pas. sluice serve est-il lancé ?";
    invalid_text: "A value given was not accepted; nothing was changed. Go back, correct it and send again.", "Une valeur indiquée n'a pas été acceptée ; rien n'a été modifié. Revenez en arrière, corrigez-la et renvoyez.";
    conflict_text: "This cannot be done in the current state.", "Impossible dans l'état actuel.";
    check_failed_text: "The check did not pass.", "La vérification a échoué.";
    rate_limited_text: "Too many searches. Wait {} seconds and try again.", "Trop de recherches. Attendez {} secondes et réessayez.";
    server_said: "Details from the server:", "Détails donnés par le serveur :";
    back_home: "Back to the home page", "Retour à l'accueil";
    done: "Done.", "C'est fait.";
    colon: ": ", "\u{a0}: ";
    yes: "yes", "oui";
    no: "no", "non";
    none: "none", "aucun";
    cancel: "Cancel", "Annuler";
    save: "Save", "Enregistrer";
    search: "Search", "Rechercher";
    remove: "Remove", "Supprimer";
    enable: "Enable", "Activer";
    disable: "Disable", "Désactiver";
    edit: "Edit", "Modifier";
    confirm: "Confirm", "Confirmer";
    actions: "Actions", "Actions";
    status: "Status", "État";
    name: "Name", "Nom";
    when: "When", "Quand";
    ago_minutes: "{} min ago", "il y a {} min";
    ago_hours: "{} h ago", "il y a {} h";
    ago_days: "{} d ago", "il y a {} j";
    in_minutes: "in {} min", "dans {} min";
    copy: "Copy", "Copier";
    copied: "Copied", "Copié";
    next_page: "Next page", "Page suivante";
    first_page: "First page", "Première page";
    nothing_yet: "Nothing to show yet.", "Rien à afficher pour l'instant.";
    trace_off: "The message trace is turned off on this server.", "Le suivi des messages est désactivé sur ce serveur.";
    // Home
    home_title: "Overview", "Vue d'ensemble";
    flow_24h: "Mail flow, last 24 hours (per hour)", "Flux de messages, dernières 24 heures (par heure)";
    flow_7d: "Mail flow, last 7 days (per 6 hours)", "Flux de messages, 7 derniers jours (par tranche de 6 heures)";
    s_accepted: "Accepted", "Acceptés";
    s_throttled: "Deferred by throttling", "Différés par limitation";
    s_refused: "Refused", "Refusés";
    s_delivered: "Delivered", "Remis";
    s_bounced: "Bounced", "Rejetés";
    chart_table: "The same figures as a table", "Les mêmes chiffres sous forme de tableau";
    chart_summary: "{} accepted, {} deferred by throttling, {} refused, {} delivered, {} bounced", "{} acceptés, {} différés par limitation, {} refusés, {} remis, {} rejetés";
    period_start: "Period starting", "Période commençant";
    most_throttled: "Most throttled IPs now", "IP les plus limitées en ce moment";
    no_throttled: "No IP was deferred in the last day.", "Aucune IP n'a été différée ce dernier jour.";
    deferred_hour: "Deferred (last hour)", "Différés (dernière heure)";
    deferred_day: "Deferred (last day)", "Différés (dernier jour)";
    throttled_now: "Throttled now", "Limitée en ce moment";
    queue_size: "Messages in the queue", "Messages en file d'attente";
    open_requests: "Open requests", "Demandes en attente";
    outbound_state: "Outbound mail of {}", "Envoi de messages de {}";
    not_blocked: "Not blocked: outbound mail flows.", "Non bloqué : les messages sortants partent.";
    blocked: "Blocked since {}: every outbound message gets 550 5.7.705.", "Bloqué depuis {} : chaque message sortant reçoit 550 5.7.705.";
    evidence: "Evidence", "Éléments";
    ask_release: "Ask for a release", "Demander la levée du blocage";
    release_now: "Release now", "Lever le blocage";
    reason: "Reason", "Motif";
    last_release: "Last release: {} by {}", "Dernière levée : {} par {}";
    tenants_title: "Tenants", "Clients";
    suspended: "suspended", "suspendu";
    active: "active", "actif";
    // Domains
    domains_title: "Domains of {}", "Domaines de {}";
    domain: "Domain", "Domaine";
    kind: "Kind", "Type";
    authoritative: "authoritative", "faisant autorité";
    internal_relay: "internal relay", "relais interne";
    pending: "pending", "en attente";
    verified: "verified", "vérifié";
    service_domain: "service domain", "domaine de service";
    add_domain: "Add a domain", "Ajouter un domaine";
    domain_name_hint: "For example contoso.example. Sub-domains are separate unless you tick the box below.", "Par exemple contoso.example. Les sous-domaines sont distincts, sauf si vous cochez la case ci-dessous.";
    domain_kind_hint: "Authoritative: every mailbox of the domain is known here. Internal relay: unknown addresses go on to your own server.", "Faisant autorité : toutes les boîtes du domaine sont connues ici. Relais interne : les adresses inconnues sont transmises à votre serveur.";
    match_subdomains: "Also accept mail for its sub-domains", "Accepter aussi les messages pour ses sous-domaines";
    txt_to_publish: "TXT record to publish at {}", "Enregistrement TXT à publier sur {}";
    verify: "Verify", "Vérifier";
    verify_ok: "Domain {} is verified: it now receives mail.", "Le domaine {} est vérifié : il reçoit désormais les messages.";
    verify_failed: "Domain {} is not verified yet.", "Le domaine {} n'est pas encore vérifié.";
    dns_returned: "What DNS returned", "Ce que le DNS a renvoyé";
    dns_expected: "Expected", "Attendu";
    remove_domain_q: "Remove domain {} and all its recipients? Mail for it will be refused.", "Supprimer le domaine {} et tous ses destinataires ? Les messages qui lui sont adressés seront refusés.";
    // Connectors
    connectors_title: "Connectors of {}", "Connecteurs de {}";
    new_connector: "New connector", "Nouveau connecteur";
    direction: "Direction", "Sens";
    inbound: "inbound", "entrant";
    outbound: "outbound", "sortant";
    partner: "partner", "partenaire";
    on_premises: "your organisation's server", "serveur de votre organisation";
    identified_by: "Identified by", "Identifié par";
    enabled: "Enabled", "Activé";
    disabled: "disabled", "désactivé";
    tls_required: "TLS required", "TLS exigé";
    remove_connector_q: "Remove connector {}? Mail that matched it is then treated as from any other sender.", "Supprimer le connecteur {} ? Les messages qui lui correspondaient seront traités comme ceux de n'importe quel expéditeur.";
    disable_connector_q: "Disable connector {}? Mail that matched it is then treated as from any other sender until you enable it again.", "Désactiver le connecteur {} ? Les messages qui lui correspondaient seront traités comme ceux de n'importe quel expéditeur jusqu'à sa réactivation.";
    edit_connector_title: "Edit connector {}", "Modifier le connecteur {}";
    edit_connector_intro: "Change the settings below, then save. Every change is recorded in the audit log with who made it and why.", "Modifiez les paramètres ci-dessous, puis enregistrez. Chaque modification est consignée dans le journal d'audit, avec son auteur et sa raison.";
    edit_enabled: "Connector turned on", "Connecteur activé";
    edit_note: "Why (kept with the change)", "Pourquoi (conservé avec la modification)";
    edit_saved: "Connector {} changed.", "Connecteur {} modifié.";
    risk_flags: "Audit flags", "Alertes de l'audit";
    risk_high: "high risk", "risque élevé";
    risk_medium: "medium risk", "risque moyen";
    risk_low: "low risk", "risque faible";
    flag_broad_range: "Broad IP range", "Plage d'adresses IP trop large";
    flag_overlaps: "Ranges shared with another tenant", "Plages partagées avec un autre client";
    flag_on_premises_without_tls: "Your server is accepted without TLS", "Votre serveur est accepté sans TLS";
    flag_wildcard_public_suffix: "Certificate name covers a public suffix", "Le nom de certificat couvre un suffixe public";
    flag_recently_created: "Recently created", "Créé récemment";
    flag_recently_changed: "Recently changed", "Modifié récemment";
    flag_disabled: "Disabled but still present", "Désactivé mais toujours présent";
    // Wizard
    wizard_title: "New connector: step {} of 6", "Nouveau connecteur : étape {} sur 6";
    w_step1: "From where to where", "D'où vers où";
    w_step2: "Name", "Nom";
    w_step3: "How to identify the server", "Comment reconnaître le serveur";
    w_step4: "Security", "Sécurité";
    w_step5: "Review", "Récapitulatif";
    w_step6: "Validate and save", "Valider et enregistrer";
    w_from_partner: "From a partner organisation to Sluice", "D'une organisation partenaire vers Sluice";
    w_from_own: "From your organisation's email server to Sluice", "Du serveur de messagerie de votre organisation vers Sluice";
    w_to_partner: "From Sluice to a partner organisation", "De Sluice vers une organisation partenaire";
    w_to_own: "From Sluice to your organisation's email server", "De Sluice vers le serveur de messagerie de votre organisation";
    w_name_hint: "A name you will recognise, such as \"Fabrikam relay\".", "Un nom que vous reconnaîtrez, par exemple « Relais Fabrikam ».";
    w_enabled: "Turn it on when it is saved", "L'activer dès l'enregistrement";
    w_by_ip: "By the IP addresses it sends from", "Par les adresses IP d'où il envoie";
    w_by_cert: "By the name in the certificate it presents (TLS)", "Par le nom du certificat qu'il présente (TLS)";
    w_ips: "IP addresses or ranges, one per line", "Adresses IP ou plages, une par ligne";
    w_ips_hint: "For example 203.0.113.25 or 203.0.113.0/24.", "Par exemple 203.0.113.25 ou 203.0.113.0/24.";
    w_certs: "Certificate names, one per line", "Noms de certificat, un par ligne";
    w_certs_hint: "For example mail.fabrikam.example or *.fabrikam.example (one label).", "Par exemple mail.fabrikam.example ou *.fabrikam.example (un seul niveau).";
    w_recipient_domains: "Recipient domains it carries, one per line (none: every domain)", "Domaines destinataires qu'il achemine, un par ligne (aucun : tous les domaines)";
    w_require_tls: "Reject email messages if they aren't sent over TLS", "Rejeter les messages qui ne sont pas envoyés par TLS";
    w_sender_domains: "Sender domains, one per line", "Domaines expéditeurs, un par ligne";
    w_restrict: "Reject mail from these sender domains unless it comes through this connector", "Rejeter les messages de ces domaines expéditeurs s'ils ne passent pas par ce connecteur";
    w_smart_hosts: "Smart hosts, one per line, in order (none: deliver by the domains' MX records)", "Relais (smart hosts), un par ligne, dans l'ordre (aucun : remise selon les enregistrements MX des domaines)";
    w_tls_mode: "TLS for delivery", "TLS pour la remise";
    tls_opportunistic: "opportunistic (TLS when offered)", "opportuniste (TLS quand il est proposé)";
    tls_required_mode: "required", "exigé";
    tls_verify_certificate: "required, certificate verified", "exigé, certificat vérifié";
    tls_verify_domain: "required, certificate name must match", "exigé, le nom du certificat doit correspondre";
    w_tls_domain: "Name the certificate must carry (for the last mode)", "Nom que le certificat doit porter (pour le dernier mode)";
    w_test_to: "Send a test message to (optional)", "Envoyer un message de test à (facultatif)";
    w_back: "Back", "Précédent";
    w_next: "Next", "Suivant";
    w_validate: "Validate", "Valider";
    w_validate_intro: "Validation checks each point below in turn. Nothing is saved until you press Save.", "La validation vérifie tour à tour chaque point ci-dessous. Rien n'est enregistré avant que vous appuyiez sur Enregistrer.";
    w_passed: "All checks passed.", "Toutes les vérifications ont réussi.";
    w_failed: "Some checks failed: correct them, or save anyway if you know why.", "Certaines vérifications ont échoué : corrigez-les, ou enregistrez quand même si vous en connaissez la raison.";
    w_saved: "Connector {} saved.", "Connecteur {} enregistré.";
    w_what_to_check: "What to check", "À vérifier";
    w_reply: "Server reply", "Réponse du serveur";
    step_ok: "passed", "réussi";
    step_failed: "failed", "échoué";
    st_settings: "Settings", "Paramètres";
    st_name: "Name", "Nom";
    st_traffic: "Recent mail from these addresses", "Messages récents de ces adresses";
    st_tls: "TLS of recent mail", "TLS des messages récents";
    st_throttling: "Throttling", "Limitation";
    st_certificate: "Certificate name", "Nom de certificat";
    st_resolve: "Name lookup", "Résolution du nom";
    st_connect: "Connection", "Connexion";
    st_banner: "Greeting", "Accueil du serveur";
    st_ehlo: "EHLO", "EHLO";
    st_starttls: "STARTTLS", "STARTTLS";
    st_mail: "MAIL FROM", "MAIL FROM";
    st_rcpt: "RCPT TO", "RCPT TO";
    st_data: "Test message", "Message de test";
    st_quit: "QUIT", "QUIT";
    // Trace
    trace_title: "Message trace", "Suivi des messages";
    sender: "Sender", "Expéditeur";
    recipient: "Recipient", "Destinataire";
    message_id: "Message-ID or queue id", "Message-ID ou identifiant de file";
    client_ip: "Client IP", "IP du client";
    any: "any", "tous";
    since: "From (UTC)", "Depuis (UTC)";
    until: "Until (UTC)", "Jusqu'à (UTC)";
    since_hint: "Empty: the last 48 hours.", "Vide : les dernières 48 heures.";
    received: "received", "reçu";
    deferred: "deferred", "différé";
    delivered: "delivered", "remis";
    failed: "failed", "en échec";
    bounced: "bounced", "rejeté";
    expired: "expired", "expiré";
    routed: "routed", "acheminé";
    notified: "notification sent", "notification envoyée";
    export_csv: "Export these results as CSV", "Exporter ces résultats en CSV";
    subject: "Subject", "Objet";
    size: "Size", "Taille";
    no_messages: "No message matches.", "Aucun message ne correspond.";
    message_title: "Message {}", "Message {}";
    timeline: "Timeline", "Chronologie";
    arrived: "Arrived from {} (HELO {})", "Arrivé de {} (HELO {})";
    over_tls: "over {}", "via {}";
    without_tls: "without TLS", "sans TLS";
    via_connector: "through connector {}", "par le connecteur {}";
    next_attempt: "next attempt {}", "prochaine tentative {}";
    refusals_title: "Refused at SMTP time", "Refusés pendant la session SMTP";
    count: "Count", "Nombre";
    reply: "Reply", "Réponse";
    // Throttling
    throttle_title: "Throttling monitor", "Surveillance de la limitation";
    lookup: "Look up an IP address or a network", "Rechercher une adresse IP ou un réseau";
    lookup_hint: "For example 203.0.113.7 or 203.0.113.0/24.", "Par exemple 203.0.113.7 ou 203.0.113.0/24.";
    show: "Show", "Afficher";
    verdict: "Its next message", "Son prochain message";
    v_accept: "would be accepted", "serait accepté";
    v_defer: "would be deferred", "serait différé";
    v_bypass: "bypasses throttling (policy range)", "échappe à la limitation (plage de la politique)";
    v_allow: "is on the operator allow list: never throttled", "est sur la liste d'autorisation de l'opérateur : jamais limité";
    retry_in: "retry in {} s", "nouvel essai dans {} s";
    key_ip: "This address", "Cette adresse";
    key_prefix: "Its network {}", "Son réseau {}";
    newcomer: "no history: a newcomer", "aucun historique : un nouveau venu";
    probation: "on probation ({} h of {} h)", "en période probatoire ({} h sur {} h)";
    warming: "warming up: past probation, not yet established", "en montée en charge : période probatoire passée, pas encore établi";
    established: "established", "établi";
    observed: "Volume now", "Volume actuel";
    baseline: "Usual volume", "Volume habituel";
    allowance: "Allowance", "Quota";
    available_now: "May send now", "Peut envoyer maintenant";
    per_hour: "{} / h", "{} / h";
    last_deferred: "Last deferred", "Dernier report";
    never: "never", "jamais";
    prefix_applies: "The network's allowance still applies to this address.", "Le quota du réseau s'applique encore à cette adresse.";
    hourly_chart: "Per hour, last {} days", "Par heure, {} derniers jours";
    days: "{} days", "{} jours";
    period: "Period", "Période";
    deferred_share: "Deferred share: {} % of {} recipients", "Part différée : {} % de {} destinataires";
    allowance_line: "allowance now", "quota actuel";
    allowance_not_kept: "The line is the allowance now. Past allowances are not kept, so earlier hours are compared with today's.", "La ligne montre le quota actuel. Les quotas passés ne sont pas conservés, les heures précédentes sont donc comparées au quota d'aujourd'hui.";
    busy_hours_only: "Only the hours that saw mail from it are listed.", "Seules les heures où il a envoyé du courrier sont listées.";
    share_col: "Deferred share", "Part différée";
    throttled_list: "IPs deferred in the last day", "IP différées au cours du dernier jour";
    token_col: "Token", "Code";
    allow_list: "Operator allow list (never throttled)", "Liste d'autorisation de l'opérateur (jamais limitées)";
    network: "Network", "Réseau";
    note: "Note", "Note";
    add: "Add", "Ajouter";
    senders_title: "IPs that sent to your domains (last 10 days)", "IP qui ont envoyé vers vos domaines (10 derniers jours)";
    create_partner: "Create a partner connector for this IP", "Créer un connecteur partenaire pour cette IP";
    tls_share: "over TLS", "via TLS";
    last_seen: "Last seen", "Vu pour la dernière fois";
    throttle_off: "Throttling is disabled on this server.", "La limitation est désactivée sur ce serveur.";
    // Requests
    requests_title: "Requests", "Demandes";
    new_request: "New request", "Nouvelle demande";
    r_exception: "Exception for a range refused with 5.7.708", "Exception pour une plage refusée avec 5.7.708";
    r_release: "Release of the outbound block (5.7.705)", "Levée du blocage des envois (5.7.705)";
    r_cidr: "Range (for an exception)", "Plage (pour une exception)";
    justification: "Justification", "Justification";
    justification_hint: "Why it is safe: who sends, what changed.", "Pourquoi c'est sans risque : qui envoie, ce qui a changé.";
    send_request: "Send the request", "Envoyer la demande";
    requested_by: "Requested by", "Demandé par";
    decision_note: "Note for the requester", "Note pour le demandeur";
    approve: "Approve", "Approuver";
    deny: "Deny", "Refuser";
    approved: "approved", "approuvée";
    denied: "denied", "refusée";
    waiting: "pending", "en attente";
    // Queue
    queue_title: "Delivery queue", "File de remise";
    state: "State", "État";
    age: "Age", "Âge";
    attempts: "Attempts", "Tentatives";
    next: "Next attempt", "Prochaine tentative";
    retry_now: "Retry now", "Réessayer maintenant";
    flush: "Retry all waiting messages now", "Réessayer maintenant tous les messages en attente";
    queue_total: "{} messages in the queue, {} shown.", "{} messages en file, {} affichés.";
    queue_delete: "Delete", "Supprimer";
    queue_delete_title: "Delete message {}", "Supprimer le message {}";
    queue_delete_q: "The message is removed from the queue and is not delivered to the recipients ticked below. This cannot be undone.", "Le message est retiré de la file d'attente et n'est pas remis aux destinataires cochés ci-dessous. Cette action est irréversible.";
    queue_delete_recipients: "Recipients to remove", "Destinataires à retirer";
    queue_bounce: "Send the sender a bounce saying an administrator removed the message", "Envoyer à l'expéditeur un avis de non-remise indiquant qu'un administrateur a retiré le message";
    queue_bounce_hint: "The bounce reports the status code shown here, linked to its help page. Untick to remove the message silently and tell nobody.", "L'avis de non-remise indique le code d'état affiché ici, lié à sa page d'aide. Décochez pour retirer le message sans prévenir personne.";
    queue_deleted: "Message removed from the queue.", "Message retiré de la file d'attente.";
    // Audit
    audit_title: "Audit log", "Journal d'audit";
    actor: "Who", "Qui";
    action: "Action", "Action";
    object: "Object", "Objet";
    source: "From", "Depuis";
    change: "Change", "Modification";
    older: "Older entries", "Entrées plus anciennes";
    filter: "Filter", "Filtrer";
    // Quarantine
    quarantine: "Quarantine", "Quarantaine";
    q_intro: "Messages held because of your policy (a failed DMARC policy, a spoofed domain of yours, spam). Release one to deliver it to its recipients, once; each is deleted automatically when its retention ends.", "Messages retenus à cause de votre politique (politique DMARC non respectée, usurpation d'un de vos domaines, spam). Libérez-en un pour le remettre à ses destinataires, une seule fois ; chacun est supprimé automatiquement à la fin de sa durée de conservation.";
    q_count: "{} held messages match; page {} of {}.", "{} messages retenus correspondent ; page {} sur {}.";
    q_held_at: "Held", "Retenu";
    q_recipients: "Recipients", "Destinataires";
    q_envelope: "Sender → recipients", "Expéditeur → destinataires";
    q_reason: "Reason", "Motif";
    q_expiry: "Deletion", "Suppression";
    q_expires_days: "in {} days", "dans {} jours";
    q_expires_day: "within a day", "dans moins d'un jour";
    q_any_reason: "Any reason", "Tout motif";
    q_reason_dmarc: "DMARC policy", "Politique DMARC";
    q_reason_spoofing: "Spoofing of your domains", "Usurpation de vos domaines";
    q_reason_spam: "Spam", "Spam";
    q_r_dmarc: "Fails the DMARC policy of {} (p={})", "Ne respecte pas la politique DMARC de {} (p={})";
    q_r_spoofed: "Claims to come from your domain {} without proof", "Prétend venir de votre domaine {} sans preuve";
    q_r_spam: "Spam: score {} (limit {})", "Spam : score {} (seuil {})";
    q_state_held: "held", "retenu";
    q_state_releasing: "being released", "en cours de libération";
    q_state_released: "released", "libéré";
    q_released_by: "released by {} on {}", "libéré par {} le {}";
    q_preview_of: "Preview of {}", "Aperçu de {}";
    q_release: "Release", "Libérer";
    q_delete: "Delete", "Supprimer";
    q_release_title: "Release held message {}?", "Libérer le message retenu {} ?";
    q_release_q: "The message is delivered to the recipients below, once. Release it only if you are sure it is safe.", "Le message est remis une seule fois aux destinataires ci-dessous. Ne le libérez que si vous êtes sûr qu'il est sans danger.";
    q_delete_title: "Delete held message {}?", "Supprimer le message retenu {} ?";
    q_delete_q: "The message is deleted and never delivered. This cannot be undone.", "Le message est supprimé et ne sera jamais remis. Cette action est irréversible.";
    q_released: "Message {} released: it is queued for its recipients as {}.", "Message {} libéré : il est en file d'attente pour ses destinataires sous {}.";
    q_deleted: "Held message {} deleted.", "Message retenu {} supprimé.";
    q_already_released: "Message {} was already released by {} on {}; it is delivered once only.", "Le message {} a déjà été libéré par {} le {} ; il n'est remis qu'une seule fois.";
    q_headers: "Headers", "En-têtes";
    q_text: "Text", "Texte";
    q_from_html: "This message has only an HTML part: it is shown as plain text, and nothing in it (links, images, scripts) is loaded.", "Ce message n'a qu'une partie HTML : elle est affichée en texte brut, et rien de son contenu (liens, images, scripts) n'est chargé.";
    q_no_text: "This message has no text part.", "Ce message n'a pas de partie texte.";
    q_cut: "Only the start is shown (the message is long).", "Seul le début est affiché (le message est long).";
    q_partly_read: "Only the first 16 MiB of the message were read: attachments after that are not listed.", "Seuls les 16 premiers Mio du message ont été lus : les pièces jointes au-delà ne sont pas listées.";
    q_attachments: "Attachments (listed, never opened here)", "Pièces jointes (listées, jamais ouvertes ici)";
    q_no_attachments: "No attachments.", "Aucune pièce jointe.";
    q_unnamed: "(no name)", "(sans nom)";
    q_type: "Type", "Type";
    q_bytes: "{} bytes", "{} octets";
    q_kib: "{} KiB", "{} Kio";
    q_mib: "{} MiB", "{} Mio";
    q_back: "Back to the quarantine", "Retour à la quarantaine";
    q_previous: "Previous page", "Page précédente";
    q_name: "Name", "Nom";
    q_no_subject: "(no subject)", "(sans objet)";
    q_pages: "Pages of held messages", "Pages des messages retenus";
    // A refused value, in the admin's words (the API names its fields instead).
    bad_value: "{} {} is not valid: {}", "{} {} non valable : {}";
    bad_field: "{}: {}", "{} : {}";
    bad_field_plain: "{} is not valid.", "{} non valable.";
    f_ip: "IP range", "Plage d'adresses IP";
    f_cert: "Certificate name", "Nom de certificat";
    f_sender_domain: "Sender domain", "Domaine d'expéditeur";
    f_recipient_domain: "Recipient domain", "Domaine de destinataire";
    f_smart_host: "Smart host", "Hôte relais";
    f_tls: "TLS mode", "Mode TLS";
    f_tls_domain: "Domain of the certificate", "Domaine du certificat";
    f_connector_name: "Connector name", "Nom du connecteur";
    f_connector_kind: "Kind of connector", "Type de connecteur";
    f_direction: "Mail flow", "Flux de messages";
    f_restrict: "Sender domain restriction", "Restriction des domaines d'expéditeur";
    f_domain: "Domain", "Domaine";
    f_justification: "Justification", "Justification";
    f_note: "Note", "Note";
    f_date: "Date", "Date";
    f_address: "Address", "Adresse";
    f_value: "Value", "Valeur";
    r_not_ip: "it is not an IPv4 or IPv6 address", "ce n'est pas une adresse IPv4 ou IPv6";
    r_prefix_nan: "the prefix length after / must be a number", "la longueur de préfixe après / doit être un nombre";
    r_prefix_max: "a prefix length for {} is at most {}", "une longueur de préfixe {} vaut au plus {}";
    r_host_bits: "the address has bits set after the prefix length; the network is {}", "l'adresse a des bits à 1 après la longueur de préfixe ; le réseau est {}";
    r_too_broad: "too broad: an {} range must be /{} or narrower", "trop large : une plage {} doit être en /{} ou plus étroite";
    r_twice: "it is listed twice", "cette valeur figure deux fois";
    r_not_listed: "it is not in the list", "cette valeur n'est pas dans la liste";
    r_already_listed: "it is already in the list", "cette valeur est déjà dans la liste";
    r_at_most: "at most {} are allowed", "{} au maximum";
    r_longer_than: "at most {} characters are allowed", "{} caractères au maximum";
    r_port: "the port must be a number from 1 to 65535", "le port doit être un nombre de 1 à 65535";
    r_empty: "it is empty", "la valeur est vide";
    r_control: "control characters (such as line breaks) are not allowed", "les caractères de contrôle (comme les sauts de ligne) ne sont pas autorisés";
    r_ip_not_domain: "an IP address is not a domain name", "une adresse IP n'est pas un nom de domaine";
    r_idna: "it is not a valid international domain name", "ce n'est pas un nom de domaine international valable";
    r_two_labels: "a domain name has at least two parts, as in example.com", "un nom de domaine a au moins deux parties, comme example.com";
    r_numeric_top: "the last part cannot be a number", "la dernière partie ne peut pas être un nombre";
    r_empty_label: "two dots in a row, or a dot at the start", "deux points de suite, ou un point au début";
    r_label_long: "the part {} is longer than {} characters", "la partie {} dépasse {} caractères";
    r_label_chars: "the part {} may hold only letters, digits and hyphens", "la partie {} ne peut contenir que des lettres, des chiffres et des tirets";
    r_label_hyphen: "the part {} cannot start or end with a hyphen", "la partie {} ne peut ni commencer ni finir par un tiret";
    r_punycode: "the part {} is an empty punycode label", "la partie {} est un libellé punycode vide";
    r_wildcard_left: "only the left-most part may be *", "seule la partie la plus à gauche peut être *";
    r_wildcard_whole: "a wildcard must be a whole left-most part, as in *.mail.example.com", "un joker doit être toute la partie la plus à gauche, comme *.mail.example.com";
    r_connector_name: "a name has 1 to 64 characters, without control characters", "un nom a de 1 à 64 caractères, sans caractère de contrôle";
    r_on_premises: "a connector from your own mail server is recognised by IP ranges or a certificate name: give at least one", "un connecteur depuis votre propre serveur de messagerie est reconnu par des plages IP ou un nom de certificat : indiquez-en au moins un";
    r_identify: "give IP ranges, certificate names or (for a partner) sender domains to recognise the connector", "indiquez des plages IP, des noms de certificat ou (pour un partenaire) des domaines d'expéditeur pour reconnaître le connecteur";
    r_restrict: "restricting sender domains needs sender domains, and IP ranges or a certificate name", "restreindre les domaines d'expéditeur demande des domaines d'expéditeur, et des plages IP ou un nom de certificat";
    r_smart_host_needed: "give at least one smart host (or route by MX instead)", "indiquez au moins un hôte relais (ou passez par le MX)";
    r_tls_domain_needed: "verifying the domain needs the domain the certificate must be valid for", "la vérification du domaine demande le domaine pour lequel le certificat doit être valable";
    r_tls_domain_only: "only the mode that verifies the domain takes a domain", "seul le mode qui vérifie le domaine prend un domaine";
    r_tls_mode: "choose one of the TLS modes offered", "choisissez l'un des modes TLS proposés";
    r_connector_kind: "choose a partner or your own mail server", "choisissez un partenaire ou votre propre serveur de messagerie";
    r_direction: "choose where mail comes from and goes to", "choisissez d'où viennent les messages et où ils vont";
    r_date: "give a time in Unix seconds or an age such as 2h or 7d", "indiquez une date en secondes Unix ou un âge comme 2h ou 7d";
}

/// The words of a language (English for any other).
pub fn words(lang: Lang) -> &'static Words {
    match lang.tag() {
        "fr" => &FR,
        _ => &EN,
    }
}

/// `template` with each `{}` replaced by the next value.
pub fn fill(template: &str, values: &[&dyn std::fmt::Display]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(at) = rest.find("{}") {
        out.push_str(&rest[..at]);
        if let Some(v) = values.next() {
            out.push_str(&v.to_string());
        }
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_take_the_same_values() {
        for (key, en, fr) in texts() {
            assert_eq!(en.matches("{}").count(), fr.matches("{}").count(), "{key}");
            assert!(!en.is_empty() && !fr.is_empty(), "{key}");
        }
    }

    #[test]
    fn values_fill_in_order() {
        assert_eq!(fill("{} of {}", &[&1, &"six"]), "1 of six");
        assert_eq!(fill("none", &[&1]), "none");
    }
}
