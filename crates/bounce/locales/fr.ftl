# Textes français des avis de remise (DSN) de Sluice et des pages d'aide.
# Chaque message de en.ftl doit exister ici (un test le vérifie). Typographie : espace
# insécable (U+00A0) avant « : », espace fine insécable (U+202F) avant « ; ? ! », dates
# écrites à la française (« 1er décembre 2026 à 9 h 05 UTC »).

mailer-daemon-name = Système de distribution du courrier
# Lu seulement par les logiciels sans MIME ; doit rester en ASCII pur.
mime-preamble = Ceci est un avis de remise au format MIME (RFC 3464).

subject-failed = Non remis : { $subject }
subject-delayed = Remise différée : { $subject }
subject-delivered = Remis : { $subject }

intro-failed = Votre message destiné à { $recipients } n'a pas pu être remis.
intro-delayed = Votre message destiné à { $recipients } n'a pas encore été remis.
intro-delivered = Votre message destiné à { $recipients } a été remis.
next-failed = Aucune nouvelle tentative ne sera faite. Vous trouverez ci-dessous ce qui s'est passé et comment y remédier.
next-delayed = Le système de messagerie continue d'essayer ; inutile de le renvoyer. Vous serez prévenu s'il échoue définitivement.
next-delivered = Vous avez demandé à être prévenu de sa remise.
list-and-more = { $list } et { $count ->
        [one] un autre
       *[other] { $count } autres
    }

label-recipient = Destinataire :
label-status = État :
label-remote-reply = Réponse de { $server } { $stage } :
label-problem = Problème :
label-retry-until = Dernière tentative prévue :
label-more-info = Pour en savoir plus :

stage-greeting = à l'ouverture de la connexion
stage-hello = à la commande EHLO
stage-starttls = à la commande STARTTLS
stage-mail-from = à la commande MAIL FROM
stage-rcpt-to = à la commande RCPT TO
stage-data = à la commande DATA
stage-end-of-data = à la fin du message
stage-reset = à la commande RSET

problem-connection-refused = Le serveur de messagerie du destinataire a refusé la connexion.
problem-timed-out = Le serveur de messagerie du destinataire n'a pas répondu à temps.
problem-unreachable = Le serveur de messagerie du destinataire est injoignable par le réseau.
problem-connection-lost = La connexion avec le serveur de messagerie du destinataire a été interrompue.
problem-tls-failed = Impossible d'établir une connexion chiffrée (TLS) avec le serveur de messagerie du destinataire.
problem-tls-not-offered = Le serveur de messagerie du destinataire ne propose pas le chiffrement (STARTTLS) qu'exige cet acheminement.
problem-protocol = Le serveur de messagerie du destinataire n'a pas répondu comme le ferait un serveur de messagerie.
problem-dns = La recherche DNS pour { $domain } a échoué.
problem-no-address = Aucune adresse n'a été trouvée pour les serveurs de messagerie de { $domain }.
problem-null-mx = Le domaine { $domain } déclare n'accepter aucun courriel (MX nul).
problem-no-such-domain = Le domaine { $domain } n'existe pas.
problem-unknown-recipient = Le domaine { $domain } n'a aucun destinataire à cette adresse.
problem-no-tenant-route = Aucun acheminement n'est configuré vers le serveur qui reçoit le courrier de { $domain }.
problem-local-delivery = Le système de messagerie n'a pas pu enregistrer le message dans la boîte aux lettres.
problem-spool = Le système de messagerie n'a pas pu relire le message dans sa file d'attente.
problem-internal = Le système de messagerie a rencontré une erreur interne.
problem-paused = La remise vers { $domain } est suspendue, car son serveur a demandé de ralentir.
problem-removed = Un administrateur de ce système de messagerie a retiré le message de sa file d'attente avant qu'il ne puisse être remis.

note-paused = La remise vers { $domain } est suspendue jusqu'au { $until } : son serveur a demandé de ralentir, et le système de messagerie attend au lieu d'insister.
note-expired = Le système de messagerie a tenté de remettre ce message du { $since } au { $last }, puis il a abandonné.

heading-why = Pourquoi ai-je reçu ce message ?
heading-sender = Je suis l'expéditeur : que dois-je faire ?
heading-admin = Je suis l'administrateur de messagerie : comment corriger le problème ?
heading-original = Détails du message d'origine

label-sent = Envoyé le :
label-from = De :
label-to = À :
label-subject = Objet :
label-message-id = Identifiant du message :
label-size = Taille :

size-bytes = { $count ->
        [one] 1 octet
       *[other] { $value } octets
    }
size-kilobytes = { $value } ko
size-megabytes = { $value } Mo
decimal-separator = ,

date = { $day ->
        [1] 1er
       *[other] { $day }
    } { $month } { $year } à { $hour } h { $minute } UTC
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre

footer-reported-by = Rapport émis par le serveur de messagerie { $host }.
footer-attached-headers = Le rapport technique et les en-têtes de votre message d'origine sont joints.
footer-attached-full = Le rapport technique et votre message d'origine sont joints.

## Pages d'aide : help-<code>-{ title, why, sender, admin } ; les pages de limitation
## de Sluice ont aussi help-<code>-recipient, pour l'administrateur de l'organisation destinataire.

-throttle-recipient-admin = Un report ne perd rien : le serveur d'envoi garde le courrier et réessaie, et une part croissante en est acceptée à mesure que l'expéditeur gagne un quota. Si un expéditeur que vous connaissez et dont vous attendez du courrier est limité (une organisation partenaire, un service que vous utilisez, ou votre propre serveur de messagerie hébergé ailleurs), vérifiez d'abord qu'il est légitime. Son adresse IP doit appartenir à cette organisation : inscrite dans l'enregistrement SPF de son domaine ou dans sa documentation publique, ou confirmée quand vous la lui demandez par un contact que vous connaissez déjà (jamais par un contact donné dans un message). Le courrier différé que montre votre suivi des messages doit être du courrier que vous attendez de sa part. Et le volume doit avoir une raison qu'il confirme, comme une campagne ou une migration, plutôt qu'un serveur piraté. Créez alors pour lui un connecteur entrant dans votre centre d'administration : un connecteur partenaire pour une autre organisation, ou un connecteur local pour votre propre serveur de messagerie, reconnu par ses adresses IP ou par le nom de son certificat TLS, avec TLS obligatoire. Le courrier qui passe par ce connecteur est attribué à votre organisation et n'est jamais limité. Ne créez jamais de connecteur pour une adresse que vous n'avez pas pu vérifier : c'est exactement ce que demandent les spammeurs.

help-AS501-title = Nouveau serveur d'envoi au-delà du quota des nouveaux venus
help-AS501-why = Le service de messagerie destinataire limite le courrier des adresses IP qu'il ne connaît pas encore. L'adresse du serveur d'envoi est nouvelle pour lui et a envoyé plus de courrier que ce qu'une nouvelle adresse peut envoyer tant que son historique se constitue. Le courrier a été différé, pas refusé.
help-AS501-sender = Rien, le plus souvent : votre serveur de messagerie réessaie, et le message est accepté un peu plus tard. Si cet avis indique un échec définitif, renvoyez le message plus tard.
help-AS501-admin = Faites monter l'adresse en charge progressivement : envoyez à un rythme modéré et régulier, puis augmentez le volume au fil des jours ; le quota grandit avec le courrier accepté, jamais avec les nouvelles tentatives. N'essayez pas d'autres adresses nouvelles à la place. Si vous écrivez régulièrement à cette organisation, demandez à son administrateur de messagerie de reconnaître vos serveurs par un connecteur entrant (ce flux n'est alors jamais limité), ou contactez le support du service destinataire.
help-AS501-recipient = { -throttle-recipient-admin }

help-AS502-title = Hausse soudaine du volume du serveur d'envoi
help-AS502-why = L'adresse IP du serveur d'envoi a soudain envoyé beaucoup plus de courrier que d'habitude ; le service de messagerie destinataire a différé l'excédent.
help-AS502-sender = Rien, le plus souvent : votre serveur de messagerie réessaie, et le message est accepté un peu plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS502-admin = Si la hausse est légitime, étalez-la sur plusieurs heures ou faites-la progresser sur plusieurs jours, ou demandez à l'administrateur de messagerie de l'organisation destinataire de reconnaître vos serveurs par un connecteur entrant. Sinon, cherchez sur le serveur un compte compromis, un script qui envoie en boucle ou un relais ouvert.
help-AS502-recipient = { -throttle-recipient-admin }

help-AS503-title = Réseau d'envoi au-delà de son quota
help-AS503-why = De nombreuses adresses du réseau du serveur d'envoi (le même /24 en IPv4 ou /64 en IPv6) ont envoyé du courrier en même temps, davantage que ce que le service de messagerie destinataire accepte d'un réseau sans historique.
help-AS503-sender = Rien, le plus souvent : votre serveur de messagerie réessaie, et le message est accepté un peu plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS503-admin = Envoyez par moins d'adresses IP, utilisées régulièrement : une adresse qui a un historique d'envoi est jugée sur son propre historique, et non sur celui de son réseau. Une organisation à laquelle vous écrivez souvent peut aussi reconnaître vos serveurs par un connecteur entrant.
help-AS503-recipient = { -throttle-recipient-admin }

help-AS504-title = Volume supérieur au pic habituel de l'expéditeur
help-AS504-why = Le serveur d'envoi a une période d'activité récurrente, mais celle-ci est bien plus forte que les précédentes ; le service de messagerie destinataire a différé l'excédent.
help-AS504-sender = Rien, le plus souvent : votre serveur de messagerie réessaie, et le message est accepté un peu plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS504-admin = Faites croître progressivement les campagnes récurrentes d'une période à l'autre, ou étalez-les sur davantage d'heures.
help-AS504-recipient = { -throttle-recipient-admin }

help-AS505-title = Trop de nouvelles adresses depuis le réseau d'envoi
help-AS505-why = Le réseau d'envoi utilise de nombreuses adresses IP différentes et jamais vues auparavant (rotation d'adresses), et le quota qu'elles se partagent est épuisé.
help-AS505-sender = Rien, le plus souvent : votre serveur de messagerie réessaie, et le message est accepté un peu plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS505-admin = Envoyez depuis un petit ensemble stable d'adresses IP. Une adresse stable se constitue son propre historique et est ensuite jugée sur celui-ci.
help-AS505-recipient = { -throttle-recipient-admin }

help-5-7-705-title = Organisation expéditrice au-delà de son seuil d'envoi
help-5-7-705-why = Le service de messagerie de votre organisation a bloqué tout le courrier sortant de celle-ci, parce qu'elle a envoyé trop de spam ou de courrier de masse, ou parce que son abonnement est suspendu ou arrivé à échéance.
help-5-7-705-sender = Votre message n'a pas été envoyé, et aucun message de votre organisation ne peut l'être pour l'instant. Prévenez votre administrateur de messagerie, et renvoyez le message quand il vous confirme que le blocage est levé.
help-5-7-705-admin = Trouvez et arrêtez la source du spam ou du courrier de masse (comptes compromis, formulaires web, scripts) et vérifiez l'abonnement. Demandez ensuite à l'opérateur du service de messagerie de débloquer votre organisation ; le courrier est de nouveau accepté dès le déblocage.

help-5-7-708-title = Adresse IP d'envoi refusée
help-5-7-708-why = Le courrier a été envoyé depuis une adresse IP inscrite sur une liste de sources de mauvaise réputation (la liste de l'opérateur ou une liste de blocage DNS) ; le service de messagerie destinataire l'a donc refusé.
help-5-7-708-sender = Votre message n'a pas été remis. Prévenez votre administrateur de messagerie, ou envoyez-le depuis un autre compte ou un autre service.
help-5-7-708-admin = Cherchez pourquoi l'adresse est inscrite (les listes de blocage DNS en donnent la raison) et demandez son retrait, ou envoyez par une autre adresse IP de bonne réputation. Si l'adresse vous appartient légitimement et est inscrite à tort, demandez à l'administrateur de messagerie du destinataire de solliciter une exception pour elle auprès de l'opérateur du service destinataire : l'opérateur accorde les exceptions à la demande de ses clients.

help-5-7-750-title = Domaine de l'expéditeur non enregistré
help-5-7-750-why = Le message a été envoyé depuis un domaine que votre organisation n'a ni ajouté ni vérifié dans son service de messagerie. Seul un petit quota de ce courrier est accepté ; au-delà, il est bloqué.
help-5-7-750-sender = Envoyez depuis une adresse d'un domaine enregistré de votre organisation, ou demandez à votre administrateur de messagerie d'enregistrer ce domaine.
help-5-7-750-admin = Ajoutez le domaine de l'expéditeur à votre organisation dans le centre d'administration, et prouvez que vous en êtes propriétaire avec l'enregistrement DNS TXT qui y est indiqué. Le courrier de ce domaine est accepté dès qu'il est vérifié.

help-5-7-751-title = Limite quotidienne du domaine de service initial atteinte
help-5-7-751-why = Le message a été envoyé depuis le domaine de service initial de votre organisation : le nom que le service de messagerie lui a attribué au démarrage, un sous-domaine du domaine du service. Ce domaine ne peut écrire qu'à un petit nombre de destinataires par jour, et ce nombre est atteint.
help-5-7-751-sender = Votre message n'a pas été envoyé. Renvoyez-le depuis une adresse du domaine propre à votre organisation, ou demandez à votre administrateur de messagerie d'en configurer un.
help-5-7-751-admin = Ajoutez le domaine de votre organisation dans le centre d'administration, prouvez que vous en êtes propriétaire avec l'enregistrement DNS TXT qui y est indiqué, puis envoyez depuis des adresses de ce domaine. Le domaine de service initial reste limité.

help-4-7-752-title = Expéditeur au-delà de sa limite de destinataires
help-4-7-752-why = L'adresse de l'expéditeur a écrit à plus de destinataires, au cours de la dernière heure ou des dernières 24 heures, que le service de messagerie ne l'autorise pour une seule adresse. L'excédent a été différé, pas refusé.
help-4-7-752-sender = Rien, le plus souvent : le serveur de messagerie de votre organisation réessaie, et le message part dès que la limite le permet ; la réponse du serveur indique quand. Si cet avis indique un échec définitif, renvoyez le message plus tard, ou à moins de destinataires à la fois.
help-4-7-752-admin = Si cette adresse écrit légitimement à de nombreux destinataires (lettres d'information, notifications), étalez l'envoi dans le temps, ou demandez à l'opérateur du service de messagerie de relever la limite. Si elle ne devrait pas envoyer autant, vérifiez que le compte n'est pas compromis.

help-5-7-509-title = Le domaine expéditeur échoue à sa propre politique DMARC
help-5-7-509-why = Le message prétend venir d'un domaine dont le propriétaire publie une politique DMARC demandant aux destinataires de rejeter le courrier qui ne prouve pas venir de ce domaine, et ni SPF ni DKIM ne l'ont prouvé : le serveur d'envoi ne figure pas dans l'enregistrement SPF du domaine, et le message ne porte aucune signature DKIM valide du domaine.
help-5-7-509-sender = Votre message n'a pas été distribué. Si vous l'avez envoyé par un service ou une liste de diffusion, envoyez-le plutôt directement depuis votre propre compte de messagerie, et prévenez votre administrateur de messagerie.
help-5-7-509-admin = Faites passer DMARC aux serveurs qui envoient pour le domaine : inscrivez-les dans l'enregistrement SPF du domaine (celui de l'expéditeur d'enveloppe, aligné sur le domaine From) ou faites-leur signer le courrier avec DKIM pour le domaine From, et consultez les rapports DMARC du domaine pour repérer d'autres sources. Un service de transfert doit garder les signatures DKIM intactes ou utiliser ARC.

help-5-7-510-title = Domaine de l'organisation destinataire utilisé depuis l'extérieur
help-5-7-510-why = Le message prétend venir d'un domaine qui appartient à l'organisation du destinataire, mais il n'est arrivé par aucun des serveurs de messagerie déclarés par cette organisation et n'a pas prouvé par SPF ou DKIM qu'il vient de ce domaine. Un tel courrier est le plus souvent une contrefaçon (usurpant un collègue ou l'organisation elle-même) ; le service de réception le refuse donc.
help-5-7-510-sender = Votre message n'a pas été distribué. Si vous êtes membre de cette organisation, envoyez-le par son service de messagerie habituel ; sinon, envoyez-le depuis votre propre adresse.
help-5-7-510-admin = Si un serveur légitime (un partenaire, un service de marketing ou de support) envoie avec votre domaine, ajoutez-le à l'enregistrement SPF du domaine ou faites-lui signer avec DKIM pour votre domaine, ou déclarez-le comme connecteur entrant de votre organisation dans le service de messagerie.

help-5-7-520-title = Message refusé comme indésirable
help-5-7-520-why = Le filtre de contenu du service de réception a jugé que le message était un courrier indésirable (spam), et la politique de l'organisation destinataire est de refuser un tel courrier plutôt que de le retenir.
help-5-7-520-sender = Votre message n'a pas été distribué. Retirez ce qui ressemble à du spam (nombreux liens, adresses raccourcies, pièces jointes de types risqués, formules typiques des offres de masse) ou contactez le destinataire autrement.
help-5-7-520-admin = Vérifiez que le serveur d'envoi et son domaine ne figurent pas sur des listes de blocage, que SPF, DKIM et DMARC passent pour le domaine d'envoi, et que le contenu n'est pas un envoi de masse sans consentement. Si un message légitime est refusé à répétition, demandez à l'administrateur de messagerie de l'organisation destinataire de l'examiner.

help-scanner-unavailable-title = Analyseur de contenu momentanément indisponible
help-scanner-unavailable-why = Le service de réception analyse chaque message avant de l'accepter, et son analyseur n'a pas pu juger celui-ci à temps ; le message a donc été différé plutôt qu'accepté sans contrôle.
help-scanner-unavailable-sender = Rien à faire : votre serveur de messagerie réessaie automatiquement, et le message est distribué dès que l'analyseur répond.
help-scanner-unavailable-admin = Rien à faire de votre côté : la file d'attente de votre serveur réessaie. Si le message y reste des heures, contactez l'organisation destinataire.

help-5-7-51-title = Domaine de l'expéditeur réservé à un autre acheminement
help-5-7-51-why = L'organisation destinataire n'accepte le courrier de ce domaine expéditeur que s'il arrive par la connexion qu'elle a prévue pour lui (un connecteur qui désigne les serveurs d'envoi), et ce message est arrivé par un autre chemin.
help-5-7-51-sender = Envoyez par le serveur de messagerie habituel de votre organisation. Si c'est déjà le cas, prévenez votre administrateur de messagerie.
help-5-7-51-admin = N'envoyez le courrier de ce domaine que par les serveurs que désigne le connecteur de l'organisation destinataire (par adresse IP ou certificat TLS), ou demandez à son administrateur de messagerie de mettre ce connecteur à jour.

help-5-7-1-title = Relais refusé
help-5-7-1-why = Le serveur de réception n'accepte pas, de la part du serveur d'envoi, de courrier pour le domaine du destinataire : ce n'est pas un domaine qu'il dessert, ou l'expéditeur n'a pas le droit de faire relayer son courrier par lui.
help-5-7-1-sender = Vérifiez l'adresse du destinataire, en particulier la partie après le @. Si elle est correcte, prévenez votre administrateur de messagerie, et contactez le destinataire par un autre moyen en attendant.
help-5-7-1-admin = Vérifiez que les enregistrements MX du domaine destinataire désignent des serveurs qui acceptent son courrier. Si vous passez par un relais (smart host) ou un connecteur pour ce domaine, assurez-vous qu'il relaie le courrier de vos serveurs. Si vous gérez la passerelle de réception et que ce domaine doit être desservi, ajoutez-le comme domaine accepté de la bonne organisation, ou reconnaissez le serveur d'envoi par un connecteur entrant.

help-5-1-1-title = L'adresse du destinataire n'existe pas
help-5-1-1-why = Le serveur de messagerie du destinataire indique qu'aucune boîte aux lettres ne correspond à cette adresse.
help-5-1-1-sender = Vérifiez que l'adresse ne comporte pas de faute de frappe, ou demandez au destinataire son adresse actuelle, puis renvoyez le message.
help-5-1-1-admin = Si l'adresse doit exister, créez la boîte aux lettres ou l'alias sur le serveur de messagerie du destinataire, ou corrigez la synchronisation d'annuaire qui aurait dû la créer.

help-5-1-3-title = Adresse refusée
help-5-1-3-why = L'adresse du destinataire est écrite sous une forme que le serveur de réception n'accepte pas : une erreur de syntaxe, ou une forme qui sert à contourner les contrôles de relais (signe pour cent, point d'exclamation, partie locale entre guillemets).
help-5-1-3-sender = Vérifiez que l'adresse ne comporte pas de faute de frappe et écrivez-la simplement sous la forme nom@domaine, puis renvoyez le message.
help-5-1-3-admin = Si un programme produit de telles adresses, faites-lui utiliser de simples adresses nom@domaine.

help-5-2-1-title = Boîte aux lettres ou domaine désactivé
help-5-2-1-why = La boîte aux lettres du destinataire, ou le domaine tout entier, est désactivé ou suspendu et n'accepte pas de courrier.
help-5-2-1-sender = Contactez le destinataire par un autre moyen pour obtenir une adresse à jour.
help-5-2-1-admin = Si la boîte aux lettres ou le domaine vous appartient, réactivez-le, ou régularisez l'abonnement auprès du service de messagerie qui l'héberge.

help-4-2-1-title = Organisation du destinataire suspendue pour l'instant
help-4-2-1-why = L'organisation du destinataire est suspendue pour le moment auprès de son service de messagerie (une question de facturation ou de sécurité que son prestataire règle). Le courrier n'est pas refusé définitivement : le serveur d'envoi le garde et réessaie.
help-4-2-1-sender = Rien à faire pour l'instant : votre serveur de messagerie réessaie de lui-même pendant plusieurs jours. Si le message revient finalement en erreur, contactez le destinataire par un autre moyen.
help-4-2-1-admin = Rien à changer de votre côté : votre serveur garde le message dans sa file d'attente et réessaie. Si le destinataire attend votre courrier, il peut demander à son service de messagerie quand la suspension prend fin.

help-5-7-10-title = Chiffrement (TLS) obligatoire
help-5-7-10-why = Le courrier devait passer par une connexion chiffrée (STARTTLS), en vertu d'une règle du serveur de réception ou d'un connecteur, et la connexion n'était pas chiffrée, ou pas avec un certificat valide.
help-5-7-10-sender = Prévenez votre administrateur de messagerie : vous ne pouvez pas corriger cela depuis votre logiciel de messagerie. Renvoyez le message quand il vous confirme que le problème est résolu.
help-5-7-10-admin = Assurez-vous que les deux serveurs proposent STARTTLS avec un certificat valide, non expiré et au nom du serveur, et qu'ils ont une version de TLS en commun. Lorsqu'un connecteur exige un certificat vérifié, son réglage TLS indique la règle appliquée.

help-5-3-4-title = Message trop volumineux
help-5-3-4-why = Le message dépasse la taille qu'accepte le serveur de réception.
help-5-3-4-sender = Retirez ou réduisez les pièces jointes (partagez plutôt un lien vers le fichier), puis renvoyez le message.
help-5-3-4-admin = Comparez la taille maximale de message de chaque serveur sur le trajet avec ce qu'envoient vos utilisateurs ; augmentez la limite là où vous la maîtrisez, ou proposez un service de partage pour les gros fichiers.

help-4-3-0-title = Problème temporaire d'un système de messagerie
help-4-3-0-why = Un système de messagerie sur le trajet n'a pas pu enregistrer ou traiter le message à cause d'un problème temporaire, par exemple un stockage plein ou indisponible. Le message est conservé et sera renvoyé.
help-4-3-0-sender = Rien : le message est renvoyé automatiquement. Si cet avis indique un échec définitif, renvoyez le message plus tard.
help-4-3-0-admin = La réponse ou le problème indiqué dans ce rapport désigne le système en cause. Si le problème persiste, communiquez à son opérateur l'heure et l'identifiant de file d'attente figurant dans ce rapport.

help-5-4-6-title = Boucle de messagerie détectée
help-5-4-6-why = Le message est passé par trop de serveurs de messagerie (plus de 50) : il tourne en boucle entre des serveurs qui se le renvoient.
help-5-4-6-sender = Prévenez votre administrateur de messagerie, et renvoyez le message quand il aura trouvé la boucle.
help-5-4-6-admin = Les lignes Received de l'en-tête du message montrent quels serveurs se le renvoient ; corrigez leurs règles de transfert, leur acheminement ou leurs enregistrements MX pour que l'un d'eux le remette.

help-5-3-0-title = Message retiré par un administrateur
help-5-3-0-why = Un administrateur du système de messagerie qui détenait le message l'a retiré de la file d'attente avant qu'il ne puisse être remis, par exemple parce qu'il restait longtemps sans pouvoir être remis, qu'il avait été envoyé par erreur ou qu'il semblait dangereux. Le message n'a pas été remis aux destinataires listés dans ce rapport et ne le sera pas.
help-5-3-0-sender = Si le message est toujours utile, vérifiez les adresses des destinataires et renvoyez-le, ou contactez les destinataires par un autre moyen. Si vous ne savez pas pourquoi il a été retiré, demandez-le à votre administrateur de messagerie.
help-5-3-0-admin = Le rapport indique le système de messagerie (Reporting-MTA) et l'identifiant de file d'attente du message. Demandez à l'opérateur de ce système pourquoi il a été retiré ; si la destination était injoignable, vérifiez les enregistrements MX et les serveurs du domaine des destinataires avant de renvoyer le message.

help-5-2-2-title = Boîte aux lettres du destinataire pleine
help-5-2-2-why = La boîte aux lettres du destinataire a atteint son quota de stockage et ne peut plus recevoir de courrier.
help-5-2-2-sender = Contactez le destinataire par un autre moyen pour qu'il libère de l'espace, puis renvoyez le message.
help-5-2-2-admin = Augmentez le quota de la boîte aux lettres, ou aidez l'utilisateur à archiver ou à supprimer ses anciens messages.

help-auth-failed-title = Échec de l'authentification de l'expéditeur (SPF, DKIM ou DMARC)
help-auth-failed-why = Le serveur du destinataire a vérifié que le message provenait bien du domaine de l'expéditeur (avec SPF, DKIM et DMARC) ; la vérification a échoué, et la politique DMARC du domaine lui-même demandait de refuser un tel courrier.
help-auth-failed-sender = Prévenez votre administrateur de messagerie : le message a été refusé à cause des réglages de votre domaine, et non de son contenu. Renvoyez-le une fois les réglages corrigés.
help-auth-failed-admin = Déclarez dans l'enregistrement SPF du domaine tous les serveurs qui envoient du courrier en son nom, signez le courrier sortant avec DKIM pour le domaine de l'adresse De, et choisissez une politique DMARC conforme à votre façon d'envoyer ; si votre courrier sort par ce service, incluez ses serveurs d'envoi comme l'indique sa documentation. Les rapports DMARC que reçoit votre domaine montrent quelles sources échouent.

help-spam-title = Refusé comme spam ou contenu dangereux
help-spam-why = Le filtre de contenu du serveur du destinataire a jugé que le message était du spam, du courrier de masse ou un contenu dangereux (virus, lien d'hameçonnage), et l'a refusé.
help-spam-sender = Si le message est légitime, retirez ce qui paraît suspect (liens raccourcis, liens nombreux, images sans texte, pièces jointes contenant des macros ou des programmes) puis renvoyez-le, ou contactez le destinataire par un autre moyen.
help-spam-admin = Vérifiez que le compte d'envoi n'est pas compromis, et cherchez dans le message ce que les filtres sanctionnent. Authentifiez votre domaine avec SPF, DKIM et DMARC, ce que les filtres valorisent. Si du courrier légitime continue d'être refusé, demandez à l'administrateur de messagerie du destinataire de revoir le verdict du filtre.

help-blocklisted-title = Adresse IP d'envoi inscrite sur une liste de blocage
help-blocklisted-why = Le serveur du destinataire a refusé le message, car l'adresse IP d'où il provient figure sur une liste de blocage (par exemple Spamhaus) ou a une mauvaise réputation auprès du service destinataire.
help-blocklisted-sender = Votre message n'a pas été remis ; son contenu n'est pas en cause. Prévenez votre administrateur de messagerie, et contactez le destinataire par un autre moyen en attendant.
help-blocklisted-admin = La réponse nomme la liste. Recherchez l'adresse IP d'envoi sur le site de cette liste, corrigez la cause indiquée (compte compromis, relais ouvert, script qui envoie du spam) et demandez le retrait selon la procédure de la liste. Si l'adresse appartient au service de messagerie par lequel vous envoyez, transmettez la réponse à son opérateur.

help-throttled-title = Serveur d'envoi ralenti par le service du destinataire
help-throttled-why = Le service de messagerie du destinataire limite le courrier qu'il accepte d'une adresse IP d'envoi qu'il ne connaît pas encore ou qui envoie soudain plus que d'habitude ; il a différé ce message par une erreur temporaire. Le système de messagerie a réessayé en espaçant ses tentatives, jusqu'à ce que le message soit accepté ou que le délai accordé soit écoulé.
help-throttled-sender = Rien, le plus souvent : le système de messagerie réessaie automatiquement. Si cet avis indique un échec définitif, renvoyez le message plus tard ; pour de nombreux destinataires de ce service, envoyez par petits lots.
help-throttled-admin = Le service destinataire limite l'adresse IP par laquelle sort votre courrier. Faites-la monter en charge : un volume modéré et régulier, qui croît au fil des jours, plutôt que des rafales. Demandez à l'administrateur de messagerie de l'organisation destinataire d'ajouter de son côté un connecteur pour vos serveurs d'envoi (un flux de confiance n'est pas limité), ou contactez le support du service destinataire en lui donnant la réponse citée dans ce rapport. Modifier vos enregistrements DNS n'y changera rien.

help-policy-title = Refusé par les règles du serveur du destinataire
help-policy-why = Le serveur de messagerie du destinataire a refusé le message en application de l'une de ses propres règles. Sa réponse, citée dans ce rapport, nomme en général cette règle.
help-policy-sender = Lisez la réponse du serveur dans ce rapport. Si elle désigne quelque chose que vous pouvez changer (un type de pièce jointe, un lien, l'adresse d'envoi), changez-le et renvoyez le message ; sinon, contactez le destinataire par un autre moyen et prévenez votre administrateur de messagerie.
help-policy-admin = La réponse nomme la règle. Vérifiez les enregistrements SPF, DKIM et DMARC du domaine d'envoi, la réputation de vos adresses IP d'envoi et le contenu du message ; si la cause reste obscure, écrivez au postmaster de l'organisation destinataire en indiquant la réponse et l'heure.

help-5-1-2-title = Le domaine du destinataire n'existe pas
help-5-1-2-why = La partie de l'adresse qui suit le @ n'est pas un domaine qui existe dans le DNS : il n'y a donc aucun serveur à qui remettre le message.
help-5-1-2-sender = Vérifiez que l'adresse ne comporte pas de faute de frappe, surtout après le @, puis renvoyez le message.
help-5-1-2-admin = Si le domaine doit exister, vérifiez son enregistrement et sa délégation DNS.

help-5-1-10-title = Le domaine du destinataire n'accepte aucun courriel
help-5-1-10-why = Le domaine du destinataire déclare dans le DNS qu'il n'accepte aucun courriel (enregistrement MX nul, RFC 7505).
help-5-1-10-sender = Cette adresse ne peut pas recevoir de courriel. Vérifiez-la, ou contactez le destinataire par un autre moyen.
help-5-1-10-admin = Si le domaine doit recevoir du courriel, remplacez son enregistrement MX nul par des enregistrements MX désignant ses serveurs de messagerie.

help-4-4-1-title = Serveur du destinataire injoignable
help-4-4-1-why = Le système de messagerie n'a pas pu dialoguer avec le serveur de messagerie du destinataire : la connexion a été refusée, a expiré ou a été interrompue. Il continue d'essayer pendant un certain temps avant d'abandonner.
help-4-4-1-sender = Rien pour l'instant : la remise est retentée automatiquement. Si cet avis indique un échec définitif, vérifiez l'adresse et contactez le destinataire par un autre moyen.
help-4-4-1-admin = Les serveurs du destinataire sont arrêtés, injoignables, ou refusent les connexions de ce système de messagerie. Si le domaine destinataire est le vôtre, vérifiez que ses serveurs MX fonctionnent, acceptent les connexions sur le port 25, et qu'aucun pare-feu ne les bloque.

help-4-4-3-title = Échec de la recherche DNS du domaine du destinataire
help-4-4-3-why = Le système de messagerie n'a pas pu déterminer où remettre le courrier du domaine du destinataire : ses serveurs DNS n'ont pas répondu, ou ont répondu par une erreur.
help-4-4-3-sender = Rien pour l'instant : la remise est retentée automatiquement. Si cet avis indique un échec définitif, renvoyez le message plus tard.
help-4-4-3-admin = Si le domaine destinataire est le vôtre, vérifiez que ses serveurs DNS répondent et que ses enregistrements MX se résolvent. Sinon, le problème vient du DNS du destinataire.

help-4-4-4-title = Aucun acheminement vers le serveur de l'organisation
help-4-4-4-why = Le domaine du destinataire appartient à une organisation qui reçoit son courrier sur son propre serveur, mais aucun acheminement vers ce serveur n'est configuré dans le service de messagerie : le système ne sait donc pas où remettre le message.
help-4-4-4-sender = Rien pour l'instant : la remise est retentée pendant un certain temps. Si cet avis indique un échec définitif, contactez le destinataire par un autre moyen.
help-4-4-4-admin = Si le domaine est le vôtre, ajoutez dans le centre d'administration un connecteur sortant qui envoie le courrier de ce domaine à votre propre serveur de messagerie (ses relais). Les messages en attente partent dès qu'il existe.

help-4-4-7-title = Délai de remise expiré
help-4-4-7-why = Le système de messagerie a tenté de remettre le message pendant longtemps, chaque tentative échouant temporairement, et a abandonné au bout de la durée maximale qu'un message peut passer dans sa file d'attente.
help-4-4-7-sender = Renvoyez le message plus tard. S'il échoue de nouveau, contactez le destinataire par un autre moyen.
help-4-4-7-admin = La dernière réponse ou le dernier problème cité dans ce rapport donne la cause : un serveur injoignable, un serveur qui différait sans cesse le message, ou un serveur qui demandait de ralentir. Corrigez cette cause du côté qu'elle désigne.

help-4-0-0-title = Échec temporaire sur le serveur de réception
help-4-0-0-why = Le serveur de messagerie de réception a répondu par une erreur temporaire ; la remise est donc retentée.
help-4-0-0-sender = Rien : le message est renvoyé automatiquement. Vous serez prévenu s'il échoue définitivement.
help-4-0-0-admin = La réponse citée dans ce rapport donne la cause. Si le problème persiste, contactez l'administrateur du serveur de réception en lui indiquant la réponse et l'heure.

help-5-0-0-title = Refusé par le serveur de réception
help-5-0-0-why = Le serveur de messagerie de réception a refusé définitivement le message.
help-5-0-0-sender = Lisez la réponse du serveur dans ce rapport ; elle indique en général ce qu'il faut changer. Corrigez le problème et renvoyez le message, ou contactez le destinataire par un autre moyen.
help-5-0-0-admin = La réponse donne la cause. Corrigez-la du côté de l'envoi, ou contactez l'administrateur ou le postmaster du serveur de réception en lui indiquant la réponse et l'heure.
