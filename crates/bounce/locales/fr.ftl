# Textes français des avis de remise (DSN) de Sluice et des pages d'aide.
# Chaque message de en.ftl doit exister ici (un test le vérifie).

mailer-daemon-name = Système de distribution du courrier

subject-failed = Non remis : { $subject }
subject-delayed = Remise différée : { $subject }
subject-delivered = Remis : { $subject }

intro-failed = Votre message n'a pas pu être remis au(x) destinataire(s) ci-dessous. Il ne sera pas renvoyé. Pour chaque destinataire, ce qui s'est passé et comment y remédier est expliqué.
intro-delayed = Votre message n'a pas encore été remis au(x) destinataire(s) ci-dessous. Le système de messagerie continue d'essayer ; inutile de le renvoyer. Vous serez prévenu s'il échoue définitivement.
intro-delivered = Votre message a été remis au(x) destinataire(s) ci-dessous, comme vous avez demandé à en être informé.

label-recipient = Destinataire :
label-status = État :
label-remote-reply = Réponse de { $server } :
label-retry-until = Nouvelles tentatives jusqu'au :
label-more-info = Plus d'informations :

note-expired = Le système de messagerie a essayé de remettre ce message du { $since } au { $last }, puis a abandonné.

heading-why = Pourquoi ai-je reçu ce message ?
heading-sender = Je suis l'expéditeur : que dois-je faire ?
heading-admin = Je suis l'administrateur de messagerie : comment corriger le problème ?

footer-reported-by = Rapport émis par le serveur de messagerie { $host }.
footer-attached-headers = Le rapport technique et les en-têtes de votre message d'origine sont joints.
footer-attached-full = Le rapport technique et votre message d'origine sont joints.

## Textes d'aide : help-<code>-{ title, why, sender, admin }.

help-AS501-title = Nouveau serveur d'envoi au-delà de son quota de mise à l'essai
help-AS501-why = L'adresse IP du serveur d'envoi est nouvelle pour la passerelle de réception, et elle a envoyé plus de courrier qu'une nouvelle adresse n'y est autorisée tant que son historique se construit. Le courrier a été différé, pas refusé.
help-AS501-sender = Rien, le plus souvent : votre serveur de messagerie réessaie et le message est accepté plus tard. Si cet avis indique un échec définitif, renvoyez le message plus tard.
help-AS501-admin = Envoyez depuis cette adresse IP à un rythme modéré et régulier, et augmentez le volume sur plusieurs jours ; le quota croît avec le courrier accepté, jamais avec les nouvelles tentatives. Ne changez pas pour d'autres adresses nouvelles.

help-AS502-title = Hausse soudaine du volume du serveur d'envoi
help-AS502-why = L'adresse IP du serveur d'envoi a soudain envoyé beaucoup plus de courrier que d'habitude ; la passerelle de réception a différé l'excédent.
help-AS502-sender = Rien, le plus souvent : votre serveur de messagerie réessaie et le message est accepté plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS502-admin = Si la hausse est légitime, étalez-la sur plusieurs heures ou augmentez-la sur plusieurs jours. Sinon, recherchez sur le serveur un compte compromis, un script emballé ou un relais ouvert.

help-AS503-title = Réseau d'envoi au-delà de son quota
help-AS503-why = De nombreuses adresses du réseau du serveur d'envoi (le même /24 en IPv4 ou /64 en IPv6) ont envoyé du courrier en même temps, plus que la passerelle de réception n'en accepte d'un réseau sans historique.
help-AS503-sender = Rien, le plus souvent : votre serveur de messagerie réessaie et le message est accepté plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS503-admin = Envoyez par moins d'adresses IP, utilisées régulièrement ; une adresse qui a un historique d'envoi est jugée sur son propre historique et non sur celui de son réseau.

help-AS504-title = Volume au-dessus du pic habituel de l'expéditeur
help-AS504-why = Le serveur d'envoi a une période d'activité récurrente, mais celle-ci est bien plus forte que les précédentes ; la passerelle de réception a différé l'excédent.
help-AS504-sender = Rien, le plus souvent : votre serveur de messagerie réessaie et le message est accepté plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS504-admin = Augmentez progressivement les campagnes récurrentes d'une période à l'autre, ou étalez-les sur davantage d'heures.

help-AS505-title = Trop de nouvelles adresses depuis le réseau d'envoi
help-AS505-why = Le réseau d'envoi utilise de nombreuses adresses IP différentes et inconnues jusque-là (rotation d'adresses), et le quota partagé entre elles est épuisé.
help-AS505-sender = Rien, le plus souvent : votre serveur de messagerie réessaie et le message est accepté plus tard. En cas d'échec définitif, renvoyez le message plus tard.
help-AS505-admin = Envoyez depuis un petit ensemble stable d'adresses IP. Une adresse stable se constitue son propre historique et est ensuite jugée sur celui-ci.

help-5-7-705-title = Organisation expéditrice au-delà de son seuil d'envoi
help-5-7-705-why = Le service de messagerie de votre organisation a bloqué tout le courrier sortant de votre organisation, parce qu'elle a envoyé trop de spam ou de courrier en masse, ou parce que son abonnement est suspendu ou expiré.
help-5-7-705-sender = Votre message n'a pas été envoyé, et aucun message de votre organisation ne peut l'être pour l'instant. Prévenez votre administrateur de messagerie ; renvoyez le message quand il confirme que le blocage est levé.
help-5-7-705-admin = Trouvez et arrêtez la source du spam ou du courrier en masse (comptes compromis, formulaires, scripts) et vérifiez l'abonnement. Demandez ensuite à l'opérateur du service de messagerie de débloquer le locataire ; le courrier est de nouveau accepté dès le déblocage.

help-5-7-708-title = Adresse IP d'envoi non acceptée
help-5-7-708-why = Le courrier a été envoyé depuis une adresse IP figurant sur une liste de sources de mauvaise réputation (liste de l'opérateur ou liste de blocage DNS) ; la passerelle de réception l'a refusé.
help-5-7-708-sender = Votre message n'a pas été remis. Prévenez votre administrateur de messagerie, ou envoyez-le depuis un autre compte ou service.
help-5-7-708-admin = Vérifiez pourquoi l'adresse est listée (les listes de blocage DNS en donnent la raison) et demandez son retrait, ou envoyez par une autre adresse IP de bonne réputation. Si l'adresse vous appartient légitimement, demandez une exception à l'opérateur du service de réception.

help-5-7-750-title = Domaine de l'expéditeur non enregistré
help-5-7-750-why = Le message a été envoyé depuis un domaine que votre organisation n'a pas ajouté ni vérifié dans son service de messagerie. Seul un petit quota de ce courrier est accepté ; au-delà, il est bloqué.
help-5-7-750-sender = Envoyez depuis une adresse d'un domaine enregistré de votre organisation, ou demandez à votre administrateur de messagerie d'enregistrer ce domaine.
help-5-7-750-admin = Ajoutez le domaine de l'expéditeur au locataire dans le centre d'administration et prouvez-le avec le jeton DNS TXT qui y est indiqué. Le courrier de ce domaine est accepté dès qu'il est vérifié.

help-5-7-751-title = Limite quotidienne du domaine de service initial atteinte
help-5-7-751-why = Le message a été envoyé depuis le domaine de service initial de votre organisation, le nom que le service de messagerie lui a attribué pour démarrer (de la forme votreorganisation.<domaine de service>). Ce domaine ne peut écrire qu'à un petit nombre de destinataires par jour, et ce nombre est atteint.
help-5-7-751-sender = Votre message n'a pas été envoyé. Renvoyez-le depuis une adresse du domaine propre à votre organisation, ou demandez à votre administrateur de messagerie d'en configurer un.
help-5-7-751-admin = Ajoutez le domaine de votre organisation au locataire dans le centre d'administration (ou avec sluice domain add et sluice domain verify), prouvez-le avec le jeton DNS TXT qui y est indiqué, puis envoyez depuis des adresses de ce domaine. Le domaine de service, lui, reste limité.

help-4-7-752-title = Expéditeur au-delà de sa limite de destinataires
help-4-7-752-why = L'adresse de l'expéditeur a écrit à plus de destinataires au cours de la dernière heure, ou des dernières 24 heures, que le service de messagerie ne l'autorise pour une seule adresse. L'excédent a été différé, pas refusé.
help-4-7-752-sender = Rien, le plus souvent : le serveur de messagerie de votre organisation réessaie et le message part dès que la limite se libère ; la réponse du serveur indique quand. Si cet avis indique un échec définitif, renvoyez le message plus tard, ou à moins de destinataires à la fois.
help-4-7-752-admin = Si cette adresse écrit légitimement à de nombreux destinataires (lettres d'information, notifications), étalez l'envoi dans le temps ou demandez à l'opérateur du service de messagerie de relever la limite. Si elle ne devrait pas envoyer autant, vérifiez que le compte n'est pas compromis.

help-5-7-1-title = Relais refusé
help-5-7-1-why = Le serveur de réception n'accepte pas de courrier pour le domaine du destinataire : ce n'est ni un domaine qu'il dessert, ni un domaine vers lequel vous pouvez envoyer par son intermédiaire.
help-5-7-1-sender = Vérifiez l'adresse du destinataire, en particulier la partie après le @. Si elle est correcte, la configuration de messagerie du destinataire est erronée : contactez-le par un autre moyen.
help-5-7-1-admin = Si le domaine doit être desservi, ajoutez-le comme domaine accepté du bon locataire. Si vos utilisateurs envoient leur courrier sortant par cette passerelle, vérifiez que leur serveur est reconnu par un connecteur entrant (plage d'adresses IP ou certificat).

help-5-1-1-title = L'adresse du destinataire n'existe pas
help-5-1-1-why = Le serveur de messagerie du destinataire indique qu'aucune boîte aux lettres ne correspond à cette adresse.
help-5-1-1-sender = Vérifiez l'adresse (faute de frappe ?) ou demandez au destinataire son adresse actuelle, puis renvoyez le message.
help-5-1-1-admin = Si l'adresse doit exister, créez la boîte aux lettres ou l'alias sur le serveur de messagerie du destinataire, ou corrigez la synchronisation d'annuaire qui aurait dû la créer.

help-5-7-10-title = Chiffrement (TLS) obligatoire
help-5-7-10-why = Une règle de connecteur impose que ce courrier passe par une connexion chiffrée (STARTTLS), et la connexion n'était pas chiffrée, ou le chiffrement n'a pas pu être établi avec un certificat valide.
help-5-7-10-sender = Prévenez votre administrateur de messagerie ; vous ne pouvez pas corriger cela depuis votre logiciel de messagerie. Renvoyez le message quand il confirme que le problème est résolu.
help-5-7-10-admin = Activez STARTTLS sur le serveur d'envoi avec un certificat valide, ou vérifiez le certificat et les versions de TLS côté réception. Le réglage TLS du connecteur indique la règle appliquée.

help-5-3-4-title = Message trop volumineux
help-5-3-4-why = Le message dépasse la taille acceptée par le serveur de réception.
help-5-3-4-sender = Retirez ou réduisez les pièces jointes (envoyez plutôt un lien vers un fichier partagé), puis renvoyez le message.
help-5-3-4-admin = Comparez la taille maximale de message de chaque étape avec ce qu'envoient vos utilisateurs ; augmentez la limite là où vous la maîtrisez, ou proposez un service de partage pour les gros fichiers.

help-4-3-0-title = Problème temporaire du système de messagerie
help-4-3-0-why = Le système de messagerie n'a pas pu enregistrer ou traiter le message à cause d'un problème temporaire, par exemple un stockage plein ou indisponible.
help-4-3-0-sender = Rien : le message est conservé et renvoyé automatiquement. Si cet avis indique un échec définitif, renvoyez le message plus tard.
help-4-3-0-admin = Vérifiez l'espace disque libre et l'état du stockage et des services du serveur qui a émis ce rapport ; ses journaux indiquent l'étape en échec.

help-5-2-2-title = Boîte aux lettres du destinataire pleine
help-5-2-2-why = La boîte aux lettres du destinataire a atteint son quota de stockage et ne peut plus recevoir de courrier.
help-5-2-2-sender = Contactez le destinataire par un autre moyen pour qu'il libère de l'espace, puis renvoyez le message.
help-5-2-2-admin = Augmentez le quota de la boîte aux lettres, ou aidez l'utilisateur à archiver ou supprimer d'anciens messages.

help-5-4-7-title = Délai de remise expiré
help-5-4-7-why = Le système de messagerie a tenté la remise pendant longtemps, chaque tentative échouant temporairement, et a abandonné au bout de la durée maximale qu'un message peut passer dans sa file d'attente.
help-5-4-7-sender = Renvoyez le message plus tard. S'il échoue encore, le serveur du destinataire est peut-être arrêté ou mal configuré : contactez le destinataire par un autre moyen.
help-5-4-7-admin = La dernière réponse du serveur distant, dans ce rapport, donne la cause. Vérifiez que le domaine du destinataire a des enregistrements MX valides et que ses serveurs acceptent les connexions de ce système de messagerie.

help-4-0-0-title = Échec temporaire sur le serveur de réception
help-4-0-0-why = Le serveur de messagerie de réception a répondu par une erreur temporaire ; la remise sera tentée à nouveau.
help-4-0-0-sender = Rien : le message est renvoyé automatiquement. Vous serez prévenu s'il échoue définitivement.
help-4-0-0-admin = La réponse du serveur distant, dans ce rapport, donne la cause. Si le problème persiste, contactez l'administrateur du serveur de réception.

help-5-0-0-title = Refusé par le serveur de réception
help-5-0-0-why = Le serveur de messagerie de réception a refusé définitivement le message.
help-5-0-0-sender = Lisez la réponse du serveur de réception dans ce rapport ; elle indique en général ce qu'il faut changer. Corrigez le problème et renvoyez le message, ou contactez le destinataire par un autre moyen.
help-5-0-0-admin = La réponse du serveur distant donne la cause (règles, contenu, authentification SPF, DKIM ou DMARC). Corrigez-la côté envoi ou contactez l'administrateur du serveur de réception.
