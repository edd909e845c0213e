<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
<context>
    <name>Details</name>
    <message>
        <source>Model: {model}</source>
        <translation>Modèle&#xa0;: {model}</translation>
    </message>
    <message>
        <source>Runtime: {backend} ({precision})</source>
        <translation>Moteur&#xa0;: {backend} ({precision})</translation>
    </message>
    <message>
        <source>Score: {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>Score&#xa0;: {score:.3f} (orienter à partir de {threshold:.3f})</translation>
    </message>
    <message>
        <source>Quality codes: {codes}</source>
        <translation>Codes qualité&#xa0;: {codes}</translation>
    </message>
    <message>
        <source>Time: {ms:.0f} ms</source>
        <translation>Durée&#xa0;: {ms:.0f} ms</translation>
    </message>
</context>
<context>
    <name>Eye</name>
    <message>
        <source>Right eye (OD)</source>
        <translation>Œil droit (OD)</translation>
    </message>
    <message>
        <source>Left eye (OS)</source>
        <translation>Œil gauche (OG)</translation>
    </message>
</context>
<context>
    <name>History</name>
    <message>
        <source>Records can be read but not saved. {problem}</source>
        <translation>Les enregistrements sont lisibles, mais rien ne peut être enregistré. {problem}</translation>
    </message>
    <message>
        <source>File</source>
        <translation>Fichier</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Caméra</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Dossier de la caméra</translation>
    </message>
    <message>
        <source>DICOM file</source>
        <translation>Fichier DICOM</translation>
    </message>
    <message>
        <source>DICOM network</source>
        <translation>Réseau DICOM</translation>
    </message>
    <message>
        <source>(no ID)</source>
        <translation>(sans identifiant)</translation>
    </message>
    <message>
        <source>PDF saved: {path}</source>
        <translation>PDF enregistré&#xa0;: {path}</translation>
    </message>
    <message>
        <source>Export CSV</source>
        <translation>Exporter en CSV</translation>
    </message>
    <message>
        <source>CSV saved: {path}</source>
        <translation>CSV enregistré&#xa0;: {path}</translation>
    </message>
</context>
<context>
    <name>HistoryPage</name>
    <message>
        <source>Search by patient ID, date, result or operator</source>
        <translation>Rechercher par identifiant, date, résultat ou opérateur</translation>
    </message>
    <message>
        <source>PDF report of the selected visit</source>
        <translation>Rapport PDF de la visite choisie</translation>
    </message>
    <message>
        <source>Export CSV...</source>
        <translation>Exporter en CSV...</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>Date et heure</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Patient</translation>
    </message>
    <message>
        <source>Eye</source>
        <translation>Œil</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Résultat</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Opérateur</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>Source</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>edge-screen: eye screening</source>
        <translation>edge-screen&#xa0;: dépistage oculaire</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>Identifiant patient</translation>
    </message>
    <message>
        <source>Type or scan, then Enter</source>
        <translation>Saisir ou scanner</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Opérateur</translation>
    </message>
    <message>
        <source>Your name</source>
        <translation>Votre nom</translation>
    </message>
    <message>
        <source>New patient</source>
        <translation>Nouveau patient</translation>
    </message>
    <message>
        <source>Screen</source>
        <translation>Dépistage</translation>
    </message>
    <message>
        <source>History</source>
        <translation>Historique</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>Réglages</translation>
    </message>
</context>
<context>
    <name>Model</name>
    <message numerus="yes">
        <source>Calibrated on %n photo(s) from this clinic</source>
        <translation>
            <numerusform>Calibré sur %n photo de ce centre</numerusform>
            <numerusform>Calibré sur %n photos de ce centre</numerusform>
        </translation>
    </message>
    <message>
        <source>finds {sens:.0%} of eyes to refer, clears {spec:.0%} of healthy eyes</source>
        <translation>détecte {sens:.0%} des yeux à orienter, écarte {spec:.0%} des yeux sains</translation>
    </message>
    <message>
        <source>Loading the model...</source>
        <translation>Chargement du modèle...</translation>
    </message>
    <message>
        <source>Model ready</source>
        <translation>Modèle prêt</translation>
    </message>
    <message>
        <source>No model</source>
        <translation>Aucun modèle</translation>
    </message>
    <message>
        <source>In use: {name} {version}</source>
        <translation>Utilisé&#xa0;: {name} {version}</translation>
    </message>
    <message>
        <source>Not calibrated for this clinic.</source>
        <translation>Non calibré pour ce centre.</translation>
    </message>
    <message>
        <source>Running on {backend} ({precision}).</source>
        <translation>Fonctionne avec {backend} ({precision}).</translation>
    </message>
    <message>
        <source>Borderline results are checked again at full precision.</source>
        <translation>Les résultats limites sont revérifiés en pleine précision.</translation>
    </message>
    <message>
        <source>No model could be loaded. Choose a model folder, or leave the field empty for the model that came with the app, then press Apply settings.</source>
        <translation>Aucun modèle n&apos;a pu être chargé. Choisissez un dossier de modèle, ou laissez le champ vide pour le modèle fourni, puis appuyez sur Appliquer les réglages.</translation>
    </message>
</context>
<context>
    <name>Problem</name>
    <message>
        <source>Damaged file: re-export it</source>
        <translation>Fichier endommagé&#xa0;: exportez-le à nouveau</translation>
    </message>
    <message>
        <source>The file is incomplete or corrupt. Export it again from the camera, or copy it again.</source>
        <translation>Le fichier est incomplet ou corrompu. Exportez-le à nouveau depuis la caméra ou recopiez-le.</translation>
    </message>
    <message>
        <source>Not a photo the app can read</source>
        <translation>Ce n&apos;est pas une photo lisible par l&apos;application</translation>
    </message>
    <message>
        <source>Use a JPEG, PNG, TIFF, BMP or DICOM file.</source>
        <translation>Utilisez un fichier JPEG, PNG, TIFF, BMP ou DICOM.</translation>
    </message>
    <message>
        <source>File not found</source>
        <translation>Fichier introuvable</translation>
    </message>
    <message>
        <source>It was moved or deleted. Choose it again.</source>
        <translation>Il a été déplacé ou supprimé. Choisissez-le à nouveau.</translation>
    </message>
    <message>
        <source>The photo is too small</source>
        <translation>La photo est trop petite</translation>
    </message>
    <message>
        <source>Use the camera&apos;s full-size photo, not a thumbnail.</source>
        <translation>Utilisez la photo en taille réelle de la caméra, pas une miniature.</translation>
    </message>
    <message>
        <source>The file is too large to open safely</source>
        <translation>Le fichier est trop gros pour être ouvert sans risque</translation>
    </message>
    <message>
        <source>Export a normal-size photo from the camera.</source>
        <translation>Exportez une photo de taille normale depuis la caméra.</translation>
    </message>
    <message>
        <source>The file cannot be read</source>
        <translation>Le fichier ne peut pas être lu</translation>
    </message>
    <message>
        <source>Check the disk or USB stick and try again.</source>
        <translation>Vérifiez le disque ou la clé USB et réessayez.</translation>
    </message>
    <message>
        <source>No model loaded: photos cannot be screened</source>
        <translation>Aucun modèle chargé&#xa0;: les photos ne peuvent pas être analysées</translation>
    </message>
    <message>
        <source>Choose a screening model in Settings.</source>
        <translation>Choisissez un modèle de dépistage dans les Réglages.</translation>
    </message>
    <message>
        <source>The model gave no usable result for this photo</source>
        <translation>Le modèle n&apos;a pas donné de résultat utilisable pour cette photo</translation>
    </message>
    <message>
        <source>Take the photo again. If every photo does this, ask for the model to be checked (Settings).</source>
        <translation>Reprenez la photo. Si cela arrive avec toutes les photos, faites vérifier le modèle (Réglages).</translation>
    </message>
    <message>
        <source>Something went wrong while screening</source>
        <translation>Un problème est survenu pendant l&apos;analyse</translation>
    </message>
    <message>
        <source>Try again. If it happens again, restart the app.</source>
        <translation>Réessayez. Si cela se reproduit, redémarrez l&apos;application.</translation>
    </message>
    <message>
        <source>This file could not be used</source>
        <translation>Ce fichier n&apos;a pas pu être utilisé</translation>
    </message>
    <message>
        <source>Try another photo.</source>
        <translation>Essayez une autre photo.</translation>
    </message>
</context>
<context>
    <name>Quality</name>
    <message>
        <source>Centre the eye in the camera and take the photo again.</source>
        <translation>Centrez l&apos;œil dans la caméra et reprenez la photo.</translation>
    </message>
    <message>
        <source>Bring the camera closer so the retina fills the picture.</source>
        <translation>Rapprochez la caméra pour que la rétine remplisse l&apos;image.</translation>
    </message>
    <message>
        <source>no retina found</source>
        <translation>rétine non visible</translation>
    </message>
    <message>
        <source>the retina is too small</source>
        <translation>rétine trop petite</translation>
    </message>
    <message>
        <source>not a photo of the retina</source>
        <translation>ce n&apos;est pas la rétine</translation>
    </message>
    <message>
        <source>Take a photo of the back of the eye with the fundus camera.</source>
        <translation>Prenez une photo du fond de l&apos;œil avec le rétinographe.</translation>
    </message>
    <message>
        <source>a colour photo is needed</source>
        <translation>une photo en couleur est nécessaire</translation>
    </message>
    <message>
        <source>Switch off the red-free or black-and-white mode and take a colour photo.</source>
        <translation>Désactivez le mode anérythre ou noir et blanc et prenez une photo en couleur.</translation>
    </message>
    <message>
        <source>too dark</source>
        <translation>trop sombre</translation>
    </message>
    <message>
        <source>too bright</source>
        <translation>trop claire</translation>
    </message>
    <message>
        <source>washed out</source>
        <translation>délavée</translation>
    </message>
    <message>
        <source>blurred</source>
        <translation>floue</translation>
    </message>
    <message>
        <source>hazy</source>
        <translation>voilée</translation>
    </message>
    <message>
        <source>too few pixels</source>
        <translation>trop peu de pixels</translation>
    </message>
    <message>
        <source>unlike the photos the model knows</source>
        <translation>différente des photos connues du modèle</translation>
    </message>
    <message>
        <source>it cannot be graded</source>
        <translation>non évaluable</translation>
    </message>
    <message>
        <source>Dim the room so the pupil opens, or use more flash, then retake.</source>
        <translation>Baissez la lumière de la pièce pour dilater la pupille, ou augmentez le flash, puis reprenez.</translation>
    </message>
    <message>
        <source>Use less flash and take the photo again.</source>
        <translation>Réduisez le flash et reprenez la photo.</translation>
    </message>
    <message>
        <source>Check the focus and the flash, then take the photo again.</source>
        <translation>Vérifiez la mise au point et le flash, puis reprenez la photo.</translation>
    </message>
    <message>
        <source>Focus on the retina, hold the camera still and take the photo again.</source>
        <translation>Faites la mise au point sur la rétine, tenez la caméra immobile et reprenez la photo.</translation>
    </message>
    <message>
        <source>Clean the camera lens and take the photo again.</source>
        <translation>Nettoyez l&apos;objectif de la caméra et reprenez la photo.</translation>
    </message>
    <message>
        <source>Send the full-size photo from the camera, not a small copy.</source>
        <translation>Envoyez la photo en taille réelle depuis la caméra, pas une petite copie.</translation>
    </message>
    <message>
        <source>Take a standard colour photo of the retina with the clinic&apos;s camera.</source>
        <translation>Prenez une photo couleur standard de la rétine avec la caméra du centre.</translation>
    </message>
    <message>
        <source>Take the photo again.</source>
        <translation>Reprenez la photo.</translation>
    </message>
</context>
<context>
    <name>Question</name>
    <message>
        <source>This file belongs to patient {file}, but this visit is saved without a patient ID.</source>
        <translation>Ce fichier appartient au patient {file}, mais cette visite est enregistrée sans identifiant.</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}, but the patient ID field says {typed}.</source>
        <translation>Ce fichier appartient au patient {file}, mais le champ identifiant indique {typed}.</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}. The photos taken before it have no patient ID. Are they the same patient?</source>
        <translation>Ce fichier appartient au patient {file}. Les photos prises avant n&apos;ont pas d&apos;identifiant. Est-ce le même patient&#xa0;?</translation>
    </message>
    <message>
        <source>This photo has no patient ID. Is it patient {patient}?</source>
        <translation>Cette photo n&apos;a pas d&apos;identifiant. Est-ce le patient {patient}&#xa0;?</translation>
    </message>
    <message>
        <source>Which eye is this photo?</source>
        <translation>De quel œil est cette photo&#xa0;?</translation>
    </message>
    <message numerus="yes">
        <source>%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep them.</source>
        <translation>
            <numerusform>%n photo de ce patient n&apos;est pas enregistrée car il n&apos;y a pas d&apos;identifiant. Saisissez-le, ou choisissez Enregistrer sans identifiant, pour la garder.</numerusform>
            <numerusform>%n photos de ce patient ne sont pas enregistrées car il n&apos;y a pas d&apos;identifiant. Saisissez-le, ou choisissez Enregistrer sans identifiant, pour les garder.</numerusform>
        </translation>
    </message>
    <message>
        <source>New patient: {patient}</source>
        <translation>Nouveau patient&#xa0;: {patient}</translation>
    </message>
    <message>
        <source>Yes, the same patient</source>
        <translation>Oui, le même patient</translation>
    </message>
    <message>
        <source>No: discard them</source>
        <translation>Non&#xa0;: les supprimer</translation>
    </message>
    <message>
        <source>No, a new patient</source>
        <translation>Non, un autre patient</translation>
    </message>
    <message>
        <source>Do not use this photo</source>
        <translation>Ne pas utiliser cette photo</translation>
    </message>
    <message>
        <source>Discard them and start a new patient</source>
        <translation>Les supprimer et passer au patient suivant</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
</context>
<context>
    <name>Report</name>
    <message>
        <source>Eye screening report</source>
        <translation>Rapport de dépistage oculaire</translation>
    </message>
    <message>
        <source>no ID (confirmed by the operator)</source>
        <translation>sans identifiant (confirmé par l&apos;opérateur)</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>Identifiant patient</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>Date et heure</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Opérateur</translation>
    </message>
    <message>
        <source>Screening support, not a diagnosis. An eye specialist must confirm any finding. A normal result does not rule out eye disease.</source>
        <translation>Aide au dépistage, pas un diagnostic. Un ophtalmologiste doit confirmer toute anomalie. Un résultat normal n&apos;exclut pas une maladie de l&apos;œil.</translation>
    </message>
    <message>
        <source>No photo of this eye was saved.</source>
        <translation>Aucune photo de cet œil n&apos;a été enregistrée.</translation>
    </message>
    <message>
        <source>Saved: {time}</source>
        <translation>Enregistré&#xa0;: {time}</translation>
    </message>
    <message>
        <source>Score {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>Score {score:.3f} (orienter à partir de {threshold:.3f})</translation>
    </message>
    <message>
        <source>Model {model} on {backend}</source>
        <translation>Modèle {model} avec {backend}</translation>
    </message>
    <message>
        <source>Corrections:</source>
        <translation>Corrections&#xa0;:</translation>
    </message>
    <message>
        <source>eye</source>
        <translation>œil</translation>
    </message>
    <message>
        <source>operator</source>
        <translation>opérateur</translation>
    </message>
    <message>
        <source>{field} changed to {value} by {by}, {time}</source>
        <translation>{field} changé en {value} par {by}, {time}</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>Où sont les signes&#xa0;:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>faible</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>fort</translation>
    </message>
</context>
<context>
    <name>Result</name>
    <message>
        <source>Retake the photo: {reason}</source>
        <translation>Reprenez la photo&#xa0;: {reason}</translation>
    </message>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>Adresser à un ophtalmologiste</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>Aucun signe justifiant une orientation</translation>
    </message>
    <message>
        <source>Ungradable: retake</source>
        <translation>Non évaluable&#xa0;: à reprendre</translation>
    </message>
    <message>
        <source>Unknown</source>
        <translation>Inconnu</translation>
    </message>
    <message>
        <source>No photo yet</source>
        <translation>Pas encore de photo</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>Analyse en cours...</translation>
    </message>
    <message>
        <source>Choose the eye, then open, capture or drop a photo.</source>
        <translation>Choisissez l&apos;œil, puis ouvrez, prenez ou déposez une photo.</translation>
    </message>
    <message>
        <source>Signs that need an eye specialist were found in this photo.</source>
        <translation>Cette photo montre des signes qui doivent être vus par un ophtalmologiste.</translation>
    </message>
    <message>
        <source>A normal result does not rule out eye disease.</source>
        <translation>Un résultat normal n&apos;exclut pas une maladie de l&apos;œil.</translation>
    </message>
</context>
<context>
    <name>Save</name>
    <message>
        <source>Saved as an ungradable attempt.</source>
        <translation>Enregistrée comme essai non évaluable.</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Enregistré.</translation>
    </message>
    <message>
        <source>Not saved: no result for this photo.</source>
        <translation>Non enregistrée&#xa0;: pas de résultat pour cette photo.</translation>
    </message>
    <message>
        <source>Saving...</source>
        <translation>Enregistrement...</translation>
    </message>
    <message>
        <source>Not saved yet: enter the patient ID and press Enter.</source>
        <translation>Pas encore enregistrée&#xa0;: saisissez l&apos;identifiant du patient et appuyez sur Entrée.</translation>
    </message>
</context>
<context>
    <name>ScreenPage</name>
    <message>
        <source>Photo from</source>
        <translation>Photo depuis</translation>
    </message>
    <message>
        <source>File</source>
        <translation>Fichier</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Caméra</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Dossier de la caméra</translation>
    </message>
    <message>
        <source>DICOM</source>
        <translation>DICOM</translation>
    </message>
    <message>
        <source>Open photo...</source>
        <translation>Ouvrir une photo...</translation>
    </message>
    <message>
        <source>Or drag a photo onto this window.</source>
        <translation>Ou faites glisser une photo dans cette fenêtre.</translation>
    </message>
    <message>
        <source>Find cameras</source>
        <translation>Chercher les caméras</translation>
    </message>
    <message>
        <source>Capture (Space)</source>
        <translation>Capturer (Espace)</translation>
    </message>
    <message>
        <source>The folder the camera saves photos to:</source>
        <translation>Le dossier où la caméra enregistre les photos&#xa0;:</translation>
    </message>
    <message>
        <source>Choose folder...</source>
        <translation>Choisir le dossier...</translation>
    </message>
    <message>
        <source>Open DICOM file...</source>
        <translation>Ouvrir un fichier DICOM...</translation>
    </message>
    <message>
        <source>Receive from the camera</source>
        <translation>Recevoir de la caméra</translation>
    </message>
    <message>
        <source>Show where the signs are</source>
        <translation>Montrer où sont les signes</translation>
    </message>
    <message>
        <source>Details</source>
        <translation>Détails</translation>
    </message>
    <message>
        <source>Save without ID...</source>
        <translation>Enregistrer sans identifiant...</translation>
    </message>
    <message>
        <source>Retry save</source>
        <translation>Réessayer l&apos;enregistrement</translation>
    </message>
    <message>
        <source>PDF report</source>
        <translation>Rapport PDF</translation>
    </message>
    <message>
        <source>This is the left eye</source>
        <translation>C&apos;est l&apos;œil gauche</translation>
    </message>
    <message>
        <source>This is the right eye</source>
        <translation>C&apos;est l&apos;œil droit</translation>
    </message>
    <message>
        <source>Keep as ungradable</source>
        <translation>Garder comme non évaluable</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>Où sont les signes&#xa0;:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>faible</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>fort</translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message>
        <source>Automatic (the fastest installed)</source>
        <translation>Automatique (le plus rapide installé)</translation>
    </message>
    <message>
        <source>{name} (not installed)</source>
        <translation>{name} (non installé)</translation>
    </message>
    <message>
        <source>The camera AE titles are not valid: up to 16 letters or digits each, separated by commas. Nothing was changed.</source>
        <translation>Les titres AE des caméras ne sont pas valides&#xa0;: 16 lettres ou chiffres au plus chacun, séparés par des virgules. Rien n&apos;a été modifié.</translation>
    </message>
    <message>
        <source>Settings saved.</source>
        <translation>Réglages enregistrés.</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Screening model</source>
        <translation>Modèle de dépistage</translation>
    </message>
    <message>
        <source>Model folder or file</source>
        <translation>Dossier ou fichier du modèle</translation>
    </message>
    <message>
        <source>Empty: the model that came with the app</source>
        <translation>Vide&#xa0;: le modèle fourni avec l&apos;application</translation>
    </message>
    <message>
        <source>Choose...</source>
        <translation>Choisir...</translation>
    </message>
    <message>
        <source>Records and language</source>
        <translation>Enregistrements et langue</translation>
    </message>
    <message>
        <source>Records folder</source>
        <translation>Dossier des enregistrements</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Langue</translation>
    </message>
    <message>
        <source>Receiving from the camera (DICOM)</source>
        <translation>Réception depuis la caméra (DICOM)</translation>
    </message>
    <message>
        <source>Network port</source>
        <translation>Port réseau</translation>
    </message>
    <message>
        <source>Cameras allowed to send (AE titles)</source>
        <translation>Caméras autorisées (titres AE)</translation>
    </message>
    <message>
        <source>e.g. FUNDUSCAM, separated by commas</source>
        <translation>p. ex. FUNDUSCAM, séparés par des virgules</translation>
    </message>
    <message>
        <source>Largest photo accepted (MB)</source>
        <translation>Taille maximale d&apos;une photo (Mo)</translation>
    </message>
    <message>
        <source>Also accept general photos (VL Photographic, Secondary Capture)</source>
        <translation>Accepter aussi les photos générales (VL Photographic, Secondary Capture)</translation>
    </message>
    <message>
        <source>Advanced (for the IT person)</source>
        <translation>Avancé (pour l&apos;informaticien)</translation>
    </message>
    <message>
        <source>Inference engine</source>
        <translation>Moteur d&apos;inférence</translation>
    </message>
    <message>
        <source>Processor threads</source>
        <translation>Fils du processeur</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>Automatique</translation>
    </message>
    <message>
        <source>Apply settings</source>
        <translation>Appliquer les réglages</translation>
    </message>
</context>
<context>
    <name>Sources</name>
    <message>
        <source>Open photo</source>
        <translation>Ouvrir une photo</translation>
    </message>
    <message>
        <source>Stop preview</source>
        <translation>Arrêter l&apos;aperçu</translation>
    </message>
    <message>
        <source>Start preview</source>
        <translation>Démarrer l&apos;aperçu</translation>
    </message>
    <message>
        <source>No camera found. Plug in the camera and press Find cameras.</source>
        <translation>Aucune caméra trouvée. Branchez la caméra et appuyez sur Chercher les caméras.</translation>
    </message>
    <message>
        <source>The camera could not be opened. Check it is plugged in and not used by another program.</source>
        <translation>La caméra n&apos;a pas pu être ouverte. Vérifiez qu&apos;elle est branchée et qu&apos;aucun autre programme ne l&apos;utilise.</translation>
    </message>
    <message>
        <source>Camera ready: {w} x {h}</source>
        <translation>Caméra prête&#xa0;: {w} x {h}</translation>
    </message>
    <message>
        <source>The camera stopped sending pictures. Check the cable and press Start preview.</source>
        <translation>La caméra n&apos;envoie plus d&apos;images. Vérifiez le câble et appuyez sur Démarrer l&apos;aperçu.</translation>
    </message>
    <message>
        <source>Stop watching</source>
        <translation>Arrêter la surveillance</translation>
    </message>
    <message>
        <source>Start watching</source>
        <translation>Démarrer la surveillance</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Dossier de la caméra</translation>
    </message>
    <message>
        <source>This folder does not exist. Choose the folder the camera saves photos to.</source>
        <translation>Ce dossier n&apos;existe pas. Choisissez le dossier où la caméra enregistre les photos.</translation>
    </message>
    <message>
        <source>Watching the camera folder.</source>
        <translation>Surveillance du dossier de la caméra.</translation>
    </message>
    <message>
        <source>The camera folder cannot be read right now.</source>
        <translation>Le dossier de la caméra ne peut pas être lu pour l&apos;instant.</translation>
    </message>
    <message>
        <source>taken</source>
        <translation>reçue</translation>
    </message>
    <message>
        <source>Receiver off.</source>
        <translation>Réception désactivée.</translation>
    </message>
    <message>
        <source>Waiting for photos on {host}:{port} (AE title {ae}).</source>
        <translation>En attente de photos sur {host}:{port} (titre AE {ae}).</translation>
    </message>
    <message>
        <source>Enter the AE title of the camera in Settings first.</source>
        <translation>Saisissez d&apos;abord le titre AE de la caméra dans les Réglages.</translation>
    </message>
    <message>
        <source>The receiver could not start: the network port is in use. Choose another in Settings.</source>
        <translation>La réception n&apos;a pas pu démarrer&#xa0;: le port réseau est occupé. Choisissez-en un autre dans les Réglages.</translation>
    </message>
    <message>
        <source>A photo arrived from the camera.</source>
        <translation>Une photo est arrivée de la caméra.</translation>
    </message>
</context>
<context>
    <name>Store</name>
    <message>
        <source>Not saved: the disk is full. Free some space, then press Retry save.</source>
        <translation>Non enregistré&#xa0;: le disque est plein. Libérez de la place, puis appuyez sur Réessayer l&apos;enregistrement.</translation>
    </message>
    <message>
        <source>Not saved: the records folder cannot be written. Choose another records folder in Settings, then press Retry save.</source>
        <translation>Non enregistré&#xa0;: impossible d&apos;écrire dans le dossier des enregistrements. Choisissez-en un autre dans les Réglages, puis appuyez sur Réessayer l&apos;enregistrement.</translation>
    </message>
    <message>
        <source>Not saved: the records database is damaged. Choose another records folder in Settings.</source>
        <translation>Non enregistré&#xa0;: la base des enregistrements est endommagée. Choisissez un autre dossier dans les Réglages.</translation>
    </message>
    <message>
        <source>Not saved: these records were made by a newer version of edge-screen. Update edge-screen.</source>
        <translation>Non enregistré&#xa0;: ces enregistrements viennent d&apos;une version plus récente d&apos;edge-screen. Mettez edge-screen à jour.</translation>
    </message>
    <message>
        <source>Not saved: the records folder has a problem. Check it in Settings, then press Retry save.</source>
        <translation>Non enregistré&#xa0;: le dossier des enregistrements a un problème. Vérifiez-le dans les Réglages, puis appuyez sur Réessayer l&apos;enregistrement.</translation>
    </message>
</context>
<context>
    <name>Summary</name>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>Adresser à un ophtalmologiste</translation>
    </message>
    <message>
        <source>Signs were found in both eyes.</source>
        <translation>Des signes ont été trouvés dans les deux yeux.</translation>
    </message>
    <message>
        <source>Signs were found in the right eye.</source>
        <translation>Des signes ont été trouvés dans l&apos;œil droit.</translation>
    </message>
    <message>
        <source>Signs were found in the left eye.</source>
        <translation>Des signes ont été trouvés dans l&apos;œil gauche.</translation>
    </message>
    <message>
        <source>Retake the photos of both eyes</source>
        <translation>Reprenez les photos des deux yeux</translation>
    </message>
    <message>
        <source>Retake the photo of the right eye</source>
        <translation>Reprenez la photo de l&apos;œil droit</translation>
    </message>
    <message>
        <source>Retake the photo of the left eye</source>
        <translation>Reprenez la photo de l&apos;œil gauche</translation>
    </message>
    <message>
        <source>A photo that cannot be graded gets no result.</source>
        <translation>Une photo qui ne peut pas être évaluée n&apos;a pas de résultat.</translation>
    </message>
    <message>
        <source>A file could not be used</source>
        <translation>Un fichier n&apos;a pas pu être utilisé</translation>
    </message>
    <message>
        <source>See the message below the eye, then open the photo again.</source>
        <translation>Lisez le message sous l&apos;œil, puis rouvrez la photo.</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>Analyse en cours...</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>Aucun signe justifiant une orientation</translation>
    </message>
    <message>
        <source>The left eye has no photo yet.</source>
        <translation>L&apos;œil gauche n&apos;a pas encore de photo.</translation>
    </message>
    <message>
        <source>The right eye has no photo yet.</source>
        <translation>L&apos;œil droit n&apos;a pas encore de photo.</translation>
    </message>
    <message>
        <source>Both eyes were screened.</source>
        <translation>Les deux yeux ont été analysés.</translation>
    </message>
    <message>
        <source>Ready for the next patient</source>
        <translation>Prêt pour le patient suivant</translation>
    </message>
    <message>
        <source>Enter the patient ID, choose the eye, then open, capture or drop a photo.</source>
        <translation>Saisissez l&apos;identifiant du patient, choisissez l&apos;œil, puis ouvrez, prenez ou déposez une photo.</translation>
    </message>
    <message>
        <source>Patient: no ID (confirmed)</source>
        <translation>Patient&#xa0;: sans identifiant (confirmé)</translation>
    </message>
    <message>
        <source>Patient: {patient}</source>
        <translation>Patient&#xa0;: {patient}</translation>
    </message>
    <message>
        <source>Patient: not entered yet</source>
        <translation>Patient&#xa0;: pas encore saisi</translation>
    </message>
</context>
<context>
    <name>VisitController</name>
    <message>
        <source>The patient of this visit cannot change any more. Press New patient to screen another patient.</source>
        <translation>Le patient de cette visite ne peut plus changer. Appuyez sur Nouveau patient pour en examiner un autre.</translation>
    </message>
    <message>
        <source>New patient from the file: {patient}</source>
        <translation>Nouveau patient d&apos;après le fichier&#xa0;: {patient}</translation>
    </message>
    <message>
        <source>Save without a patient ID? These photos cannot be found by patient later.</source>
        <translation>Enregistrer sans identifiant&#xa0;? Ces photos ne pourront plus être retrouvées par patient.</translation>
    </message>
    <message>
        <source>Save without ID</source>
        <translation>Enregistrer sans identifiant</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <source>Corrected. This photo is now marked: {eye}.</source>
        <translation>Corrigé. Cette photo est maintenant&#xa0;: {eye}.</translation>
    </message>
    <message>
        <source>An earlier photo of this eye was referred.</source>
        <translation>Une photo précédente de cet œil justifiait une orientation.</translation>
    </message>
</context>
</TS>
