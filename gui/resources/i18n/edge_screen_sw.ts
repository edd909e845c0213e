<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="sw">
<context>
    <name>Details</name>
    <message>
        <source>Model: {model}</source>
        <translation>Modeli: {model}</translation>
    </message>
    <message>
        <source>Runtime: {backend} ({precision})</source>
        <translation>Injini: {backend} ({precision})</translation>
    </message>
    <message>
        <source>Score: {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>Alama: {score:.3f} (rufaa kuanzia {threshold:.3f})</translation>
    </message>
    <message>
        <source>Quality codes: {codes}</source>
        <translation>Misimbo ya ubora: {codes}</translation>
    </message>
    <message>
        <source>Time: {ms:.0f} ms</source>
        <translation>Muda: {ms:.0f} ms</translation>
    </message>
</context>
<context>
    <name>Eye</name>
    <message>
        <source>Right eye (OD)</source>
        <translation>Jicho la kulia (OD)</translation>
    </message>
    <message>
        <source>Left eye (OS)</source>
        <translation>Jicho la kushoto (OS)</translation>
    </message>
</context>
<context>
    <name>History</name>
    <message>
        <source>Records can be read but not saved. {problem}</source>
        <translation>Kumbukumbu zinaweza kusomwa lakini si kuhifadhiwa. {problem}</translation>
    </message>
    <message>
        <source>File</source>
        <translation>Faili</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Kamera</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Folda ya kamera</translation>
    </message>
    <message>
        <source>DICOM file</source>
        <translation>Faili la DICOM</translation>
    </message>
    <message>
        <source>DICOM network</source>
        <translation>Mtandao wa DICOM</translation>
    </message>
    <message>
        <source>(no ID)</source>
        <translation>(hakuna kitambulisho)</translation>
    </message>
    <message>
        <source>PDF saved: {path}</source>
        <translation>PDF imehifadhiwa: {path}</translation>
    </message>
    <message>
        <source>Export CSV</source>
        <translation>Hamisha CSV</translation>
    </message>
    <message>
        <source>CSV saved: {path}</source>
        <translation>CSV imehifadhiwa: {path}</translation>
    </message>
</context>
<context>
    <name>HistoryPage</name>
    <message>
        <source>Search by patient ID, date, result or operator</source>
        <translation>Tafuta kwa kitambulisho, tarehe, matokeo au mhudumu</translation>
    </message>
    <message>
        <source>PDF report of the selected visit</source>
        <translation>Ripoti ya PDF ya ziara iliyochaguliwa</translation>
    </message>
    <message>
        <source>Export CSV...</source>
        <translation>Hamisha CSV...</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>Tarehe na saa</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Mgonjwa</translation>
    </message>
    <message>
        <source>Eye</source>
        <translation>Jicho</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Matokeo</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Mhudumu</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>Chanzo</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>edge-screen: eye screening</source>
        <translation>edge-screen: uchunguzi wa macho</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>Kitambulisho</translation>
    </message>
    <message>
        <source>Type or scan, then Enter</source>
        <translation>Andika au skani</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Mhudumu</translation>
    </message>
    <message>
        <source>Your name</source>
        <translation>Jina lako</translation>
    </message>
    <message>
        <source>New patient</source>
        <translation>Mgonjwa mpya</translation>
    </message>
    <message>
        <source>Screen</source>
        <translation>Uchunguzi</translation>
    </message>
    <message>
        <source>History</source>
        <translation>Historia</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>Mipangilio</translation>
    </message>
</context>
<context>
    <name>Model</name>
    <message numerus="yes">
        <source>Calibrated on %n photo(s) from this clinic</source>
        <translation>
            <numerusform>Imesawazishwa kwa picha %n ya kliniki hii</numerusform>
            <numerusform>Imesawazishwa kwa picha %n za kliniki hii</numerusform>
        </translation>
    </message>
    <message>
        <source>finds {sens:.0%} of eyes to refer, clears {spec:.0%} of healthy eyes</source>
        <translation>hugundua {sens:.0%} ya macho yanayohitaji rufaa, huthibitisha {spec:.0%} ya macho mazima</translation>
    </message>
    <message>
        <source>Loading the model...</source>
        <translation>Inapakia modeli...</translation>
    </message>
    <message>
        <source>Model ready</source>
        <translation>Modeli iko tayari</translation>
    </message>
    <message>
        <source>No model</source>
        <translation>Hakuna modeli</translation>
    </message>
    <message>
        <source>In use: {name} {version}</source>
        <translation>Inatumika: {name} {version}</translation>
    </message>
    <message>
        <source>Not calibrated for this clinic.</source>
        <translation>Haijasawazishwa kwa kliniki hii.</translation>
    </message>
    <message>
        <source>Running on {backend} ({precision}).</source>
        <translation>Inaendeshwa na {backend} ({precision}).</translation>
    </message>
    <message>
        <source>Borderline results are checked again at full precision.</source>
        <translation>Matokeo yaliyo karibu na kikomo hukaguliwa tena kwa usahihi kamili.</translation>
    </message>
    <message>
        <source>No model could be loaded. Choose a model folder, or leave the field empty for the model that came with the app, then press Apply settings.</source>
        <translation>Hakuna modeli iliyoweza kupakiwa. Chagua folda ya modeli, au acha sehemu hii tupu kwa modeli iliyokuja na programu, kisha bonyeza Tumia mipangilio.</translation>
    </message>
</context>
<context>
    <name>Problem</name>
    <message>
        <source>Damaged file: re-export it</source>
        <translation>Faili limeharibika: lihamishe upya</translation>
    </message>
    <message>
        <source>The file is incomplete or corrupt. Export it again from the camera, or copy it again.</source>
        <translation>Faili halijakamilika au limeharibika. Lihamishe tena kutoka kwenye kamera, au linakili upya.</translation>
    </message>
    <message>
        <source>Not a photo the app can read</source>
        <translation>Hii si picha ambayo programu inaweza kusoma</translation>
    </message>
    <message>
        <source>Use a JPEG, PNG, TIFF, BMP or DICOM file.</source>
        <translation>Tumia faili la JPEG, PNG, TIFF, BMP au DICOM.</translation>
    </message>
    <message>
        <source>File not found</source>
        <translation>Faili halikupatikana</translation>
    </message>
    <message>
        <source>It was moved or deleted. Choose it again.</source>
        <translation>Limehamishwa au kufutwa. Lichague tena.</translation>
    </message>
    <message>
        <source>The photo is too small</source>
        <translation>Picha ni ndogo mno</translation>
    </message>
    <message>
        <source>Use the camera&apos;s full-size photo, not a thumbnail.</source>
        <translation>Tumia picha kamili ya kamera, si picha ndogo.</translation>
    </message>
    <message>
        <source>The file is too large to open safely</source>
        <translation>Faili ni kubwa mno kufunguliwa kwa usalama</translation>
    </message>
    <message>
        <source>Export a normal-size photo from the camera.</source>
        <translation>Hamisha picha ya ukubwa wa kawaida kutoka kwenye kamera.</translation>
    </message>
    <message>
        <source>The file cannot be read</source>
        <translation>Faili haliwezi kusomwa</translation>
    </message>
    <message>
        <source>Check the disk or USB stick and try again.</source>
        <translation>Kagua diski au USB kisha ujaribu tena.</translation>
    </message>
    <message>
        <source>No model loaded: photos cannot be screened</source>
        <translation>Hakuna modeli: picha haziwezi kuchunguzwa</translation>
    </message>
    <message>
        <source>Choose a screening model in Settings.</source>
        <translation>Chagua modeli ya uchunguzi kwenye Mipangilio.</translation>
    </message>
    <message>
        <source>The model gave no usable result for this photo</source>
        <translation>Modeli haikutoa matokeo yanayofaa kwa picha hii</translation>
    </message>
    <message>
        <source>Take the photo again. If every photo does this, ask for the model to be checked (Settings).</source>
        <translation>Piga picha tena. Ikitokea kwa kila picha, omba modeli ikaguliwe (Mipangilio).</translation>
    </message>
    <message>
        <source>Something went wrong while screening</source>
        <translation>Hitilafu imetokea wakati wa uchunguzi</translation>
    </message>
    <message>
        <source>Try again. If it happens again, restart the app.</source>
        <translation>Jaribu tena. Ikitokea tena, anzisha programu upya.</translation>
    </message>
    <message>
        <source>This file could not be used</source>
        <translation>Faili hili halikuweza kutumika</translation>
    </message>
    <message>
        <source>Try another photo.</source>
        <translation>Jaribu picha nyingine.</translation>
    </message>
</context>
<context>
    <name>Quality</name>
    <message>
        <source>Centre the eye in the camera and take the photo again.</source>
        <translation>Weka jicho katikati ya kamera na upige picha tena.</translation>
    </message>
    <message>
        <source>Bring the camera closer so the retina fills the picture.</source>
        <translation>Sogeza kamera karibu ili retina ijaze picha.</translation>
    </message>
    <message>
        <source>no retina found</source>
        <translation>retina haionekani</translation>
    </message>
    <message>
        <source>the retina is too small</source>
        <translation>retina ni ndogo mno</translation>
    </message>
    <message>
        <source>not a photo of the retina</source>
        <translation>si picha ya retina</translation>
    </message>
    <message>
        <source>Take a photo of the back of the eye with the fundus camera.</source>
        <translation>Piga picha ya sehemu ya nyuma ya jicho kwa kamera ya fandasi.</translation>
    </message>
    <message>
        <source>a colour photo is needed</source>
        <translation>picha ya rangi inahitajika</translation>
    </message>
    <message>
        <source>Switch off the red-free or black-and-white mode and take a colour photo.</source>
        <translation>Zima hali ya bila-nyekundu au nyeusi-na-nyeupe na upige picha ya rangi.</translation>
    </message>
    <message>
        <source>too dark</source>
        <translation>ina giza mno</translation>
    </message>
    <message>
        <source>too bright</source>
        <translation>ina mwanga mwingi mno</translation>
    </message>
    <message>
        <source>washed out</source>
        <translation>imefifia</translation>
    </message>
    <message>
        <source>blurred</source>
        <translation>haiko wazi</translation>
    </message>
    <message>
        <source>hazy</source>
        <translation>ina ukungu</translation>
    </message>
    <message>
        <source>too few pixels</source>
        <translation>ina pikseli chache mno</translation>
    </message>
    <message>
        <source>unlike the photos the model knows</source>
        <translation>tofauti na picha ambazo modeli inazijua</translation>
    </message>
    <message>
        <source>it cannot be graded</source>
        <translation>haiwezi kutathminiwa</translation>
    </message>
    <message>
        <source>Dim the room so the pupil opens, or use more flash, then retake.</source>
        <translation>Punguza mwanga wa chumba ili mboni ifunguke, au ongeza mweko, kisha upige tena.</translation>
    </message>
    <message>
        <source>Use less flash and take the photo again.</source>
        <translation>Punguza mweko na upige picha tena.</translation>
    </message>
    <message>
        <source>Check the focus and the flash, then take the photo again.</source>
        <translation>Kagua ulengaji na mweko, kisha upige picha tena.</translation>
    </message>
    <message>
        <source>Focus on the retina, hold the camera still and take the photo again.</source>
        <translation>Lenga retina, shika kamera bila kutikisika na upige picha tena.</translation>
    </message>
    <message>
        <source>Clean the camera lens and take the photo again.</source>
        <translation>Safisha lenzi ya kamera na upige picha tena.</translation>
    </message>
    <message>
        <source>Send the full-size photo from the camera, not a small copy.</source>
        <translation>Tuma picha kamili kutoka kwenye kamera, si nakala ndogo.</translation>
    </message>
    <message>
        <source>Take a standard colour photo of the retina with the clinic&apos;s camera.</source>
        <translation>Piga picha ya kawaida ya rangi ya retina kwa kamera ya kliniki.</translation>
    </message>
    <message>
        <source>Take the photo again.</source>
        <translation>Piga picha tena.</translation>
    </message>
</context>
<context>
    <name>Question</name>
    <message>
        <source>This file belongs to patient {file}, but this visit is saved without a patient ID.</source>
        <translation>Faili hili ni la mgonjwa {file}, lakini ziara hii imehifadhiwa bila kitambulisho.</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}, but the patient ID field says {typed}.</source>
        <translation>Faili hili ni la mgonjwa {file}, lakini sehemu ya kitambulisho inaonyesha {typed}.</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}. The photos taken before it have no patient ID. Are they the same patient?</source>
        <translation>Faili hili ni la mgonjwa {file}. Picha zilizopigwa kabla yake hazina kitambulisho. Je, ni mgonjwa huyo huyo?</translation>
    </message>
    <message>
        <source>This photo has no patient ID. Is it patient {patient}?</source>
        <translation>Picha hii haina kitambulisho. Je, ni ya mgonjwa {patient}?</translation>
    </message>
    <message>
        <source>Which eye is this photo?</source>
        <translation>Picha hii ni ya jicho lipi?</translation>
    </message>
    <message numerus="yes">
        <source>%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep them.</source>
        <translation>
            <numerusform>Picha %n ya mgonjwa huyu haijahifadhiwa kwa sababu hakuna kitambulisho. Andika kitambulisho, au chagua Hifadhi bila kitambulisho, ili uibakize.</numerusform>
            <numerusform>Picha %n za mgonjwa huyu hazijahifadhiwa kwa sababu hakuna kitambulisho. Andika kitambulisho, au chagua Hifadhi bila kitambulisho, ili uzibakize.</numerusform>
        </translation>
    </message>
    <message>
        <source>New patient: {patient}</source>
        <translation>Mgonjwa mpya: {patient}</translation>
    </message>
    <message>
        <source>Yes, the same patient</source>
        <translation>Ndiyo, ni huyo huyo</translation>
    </message>
    <message>
        <source>No: discard them</source>
        <translation>Hapana: zifute</translation>
    </message>
    <message>
        <source>No, a new patient</source>
        <translation>Hapana, mgonjwa mpya</translation>
    </message>
    <message>
        <source>Do not use this photo</source>
        <translation>Usitumie picha hii</translation>
    </message>
    <message>
        <source>Discard them and start a new patient</source>
        <translation>Zifute na uanze mgonjwa mpya</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Ghairi</translation>
    </message>
</context>
<context>
    <name>Report</name>
    <message>
        <source>Eye screening report</source>
        <translation>Ripoti ya uchunguzi wa macho</translation>
    </message>
    <message>
        <source>no ID (confirmed by the operator)</source>
        <translation>hakuna kitambulisho (imethibitishwa na mhudumu)</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>Kitambulisho</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>Tarehe na saa</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Mhudumu</translation>
    </message>
    <message>
        <source>Screening support, not a diagnosis. An eye specialist must confirm any finding. A normal result does not rule out eye disease.</source>
        <translation>Huu ni msaada wa uchunguzi, si utambuzi. Daktari wa macho lazima athibitishe matokeo yoyote. Matokeo ya kawaida hayamaanishi hakuna ugonjwa wa macho.</translation>
    </message>
    <message>
        <source>No photo of this eye was saved.</source>
        <translation>Hakuna picha ya jicho hili iliyohifadhiwa.</translation>
    </message>
    <message>
        <source>Saved: {time}</source>
        <translation>Imehifadhiwa: {time}</translation>
    </message>
    <message>
        <source>Score {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>Alama {score:.3f} (rufaa kuanzia {threshold:.3f})</translation>
    </message>
    <message>
        <source>Model {model} on {backend}</source>
        <translation>Modeli {model} kwa {backend}</translation>
    </message>
    <message>
        <source>Corrections:</source>
        <translation>Marekebisho:</translation>
    </message>
    <message>
        <source>eye</source>
        <translation>jicho</translation>
    </message>
    <message>
        <source>operator</source>
        <translation>mhudumu</translation>
    </message>
    <message>
        <source>{field} changed to {value} by {by}, {time}</source>
        <translation>{field} imebadilishwa kuwa {value} na {by}, {time}</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>Dalili ziko wapi:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>hafifu</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>kali</translation>
    </message>
</context>
<context>
    <name>Result</name>
    <message>
        <source>Retake the photo: {reason}</source>
        <translation>Piga picha tena: {reason}</translation>
    </message>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>Mpe rufaa kwa daktari wa macho</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>Hakuna dalili inayohitaji rufaa</translation>
    </message>
    <message>
        <source>Ungradable: retake</source>
        <translation>Haitathminiki: piga tena</translation>
    </message>
    <message>
        <source>Unknown</source>
        <translation>Haijulikani</translation>
    </message>
    <message>
        <source>No photo yet</source>
        <translation>Bado hakuna picha</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>Inachunguza...</translation>
    </message>
    <message>
        <source>Choose the eye, then open, capture or drop a photo.</source>
        <translation>Chagua jicho, kisha fungua, piga au buruta picha.</translation>
    </message>
    <message>
        <source>Signs that need an eye specialist were found in this photo.</source>
        <translation>Dalili zinazohitaji daktari wa macho zimeonekana kwenye picha hii.</translation>
    </message>
    <message>
        <source>A normal result does not rule out eye disease.</source>
        <translation>Matokeo ya kawaida hayamaanishi hakuna ugonjwa wa macho.</translation>
    </message>
</context>
<context>
    <name>Save</name>
    <message>
        <source>Saved as an ungradable attempt.</source>
        <translation>Imehifadhiwa kama jaribio lisilotathminika.</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Imehifadhiwa.</translation>
    </message>
    <message>
        <source>Not saved: no result for this photo.</source>
        <translation>Haijahifadhiwa: picha hii haina matokeo.</translation>
    </message>
    <message>
        <source>Saving...</source>
        <translation>Inahifadhi...</translation>
    </message>
    <message>
        <source>Not saved yet: enter the patient ID and press Enter.</source>
        <translation>Bado haijahifadhiwa: andika kitambulisho cha mgonjwa na ubonyeze Enter.</translation>
    </message>
</context>
<context>
    <name>ScreenPage</name>
    <message>
        <source>Photo from</source>
        <translation>Picha kutoka</translation>
    </message>
    <message>
        <source>File</source>
        <translation>Faili</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Kamera</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Folda ya kamera</translation>
    </message>
    <message>
        <source>DICOM</source>
        <translation>DICOM</translation>
    </message>
    <message>
        <source>Open photo...</source>
        <translation>Fungua picha...</translation>
    </message>
    <message>
        <source>Or drag a photo onto this window.</source>
        <translation>Au buruta picha hadi kwenye dirisha hili.</translation>
    </message>
    <message>
        <source>Find cameras</source>
        <translation>Tafuta kamera</translation>
    </message>
    <message>
        <source>Capture (Space)</source>
        <translation>Piga picha (Space)</translation>
    </message>
    <message>
        <source>The folder the camera saves photos to:</source>
        <translation>Folda ambamo kamera huhifadhi picha:</translation>
    </message>
    <message>
        <source>Choose folder...</source>
        <translation>Chagua folda...</translation>
    </message>
    <message>
        <source>Open DICOM file...</source>
        <translation>Fungua faili la DICOM...</translation>
    </message>
    <message>
        <source>Receive from the camera</source>
        <translation>Pokea kutoka kwenye kamera</translation>
    </message>
    <message>
        <source>Show where the signs are</source>
        <translation>Onyesha dalili zilipo</translation>
    </message>
    <message>
        <source>Details</source>
        <translation>Maelezo</translation>
    </message>
    <message>
        <source>Save without ID...</source>
        <translation>Hifadhi bila kitambulisho...</translation>
    </message>
    <message>
        <source>Retry save</source>
        <translation>Jaribu kuhifadhi tena</translation>
    </message>
    <message>
        <source>PDF report</source>
        <translation>Ripoti ya PDF</translation>
    </message>
    <message>
        <source>This is the left eye</source>
        <translation>Hili ni jicho la kushoto</translation>
    </message>
    <message>
        <source>This is the right eye</source>
        <translation>Hili ni jicho la kulia</translation>
    </message>
    <message>
        <source>Keep as ungradable</source>
        <translation>Hifadhi kama isiyotathminika</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>Dalili ziko wapi:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>hafifu</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>kali</translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message>
        <source>Automatic (the fastest installed)</source>
        <translation>Otomatiki (iliyo na kasi zaidi)</translation>
    </message>
    <message>
        <source>{name} (not installed)</source>
        <translation>{name} (haijasakinishwa)</translation>
    </message>
    <message>
        <source>The camera AE titles are not valid: up to 16 letters or digits each, separated by commas. Nothing was changed.</source>
        <translation>Majina ya AE ya kamera si sahihi: kila moja herufi au tarakimu 16 au chache, yakitenganishwa kwa koma. Hakuna kilichobadilishwa.</translation>
    </message>
    <message>
        <source>Settings saved.</source>
        <translation>Mipangilio imehifadhiwa.</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Screening model</source>
        <translation>Modeli ya uchunguzi</translation>
    </message>
    <message>
        <source>Model folder or file</source>
        <translation>Folda au faili la modeli</translation>
    </message>
    <message>
        <source>Empty: the model that came with the app</source>
        <translation>Tupu: modeli iliyokuja na programu</translation>
    </message>
    <message>
        <source>Choose...</source>
        <translation>Chagua...</translation>
    </message>
    <message>
        <source>Records and language</source>
        <translation>Kumbukumbu na lugha</translation>
    </message>
    <message>
        <source>Records folder</source>
        <translation>Folda ya kumbukumbu</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Lugha</translation>
    </message>
    <message>
        <source>Receiving from the camera (DICOM)</source>
        <translation>Kupokea kutoka kwenye kamera (DICOM)</translation>
    </message>
    <message>
        <source>Network port</source>
        <translation>Mlango wa mtandao</translation>
    </message>
    <message>
        <source>Cameras allowed to send (AE titles)</source>
        <translation>Kamera zinazoruhusiwa kutuma (majina ya AE)</translation>
    </message>
    <message>
        <source>e.g. FUNDUSCAM, separated by commas</source>
        <translation>mf. FUNDUSCAM, tenganisha kwa koma</translation>
    </message>
    <message>
        <source>Largest photo accepted (MB)</source>
        <translation>Picha kubwa zaidi inayokubaliwa (MB)</translation>
    </message>
    <message>
        <source>Also accept general photos (VL Photographic, Secondary Capture)</source>
        <translation>Kubali pia picha za jumla (VL Photographic, Secondary Capture)</translation>
    </message>
    <message>
        <source>Advanced (for the IT person)</source>
        <translation>Ya juu (kwa mtaalamu wa TEHAMA)</translation>
    </message>
    <message>
        <source>Inference engine</source>
        <translation>Injini ya uchambuzi</translation>
    </message>
    <message>
        <source>Processor threads</source>
        <translation>Nyuzi za prosesa</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>Otomatiki</translation>
    </message>
    <message>
        <source>Apply settings</source>
        <translation>Tumia mipangilio</translation>
    </message>
</context>
<context>
    <name>Sources</name>
    <message>
        <source>Open photo</source>
        <translation>Fungua picha</translation>
    </message>
    <message>
        <source>Stop preview</source>
        <translation>Simamisha onyesho</translation>
    </message>
    <message>
        <source>Start preview</source>
        <translation>Anza onyesho</translation>
    </message>
    <message>
        <source>No camera found. Plug in the camera and press Find cameras.</source>
        <translation>Hakuna kamera iliyopatikana. Chomeka kamera na ubonyeze Tafuta kamera.</translation>
    </message>
    <message>
        <source>The camera could not be opened. Check it is plugged in and not used by another program.</source>
        <translation>Kamera haikuweza kufunguliwa. Hakikisha imechomekwa na haitumiwi na programu nyingine.</translation>
    </message>
    <message>
        <source>Camera ready: {w} x {h}</source>
        <translation>Kamera iko tayari: {w} x {h}</translation>
    </message>
    <message>
        <source>The camera stopped sending pictures. Check the cable and press Start preview.</source>
        <translation>Kamera imeacha kutuma picha. Kagua waya na ubonyeze Anza onyesho.</translation>
    </message>
    <message>
        <source>Stop watching</source>
        <translation>Acha kufuatilia</translation>
    </message>
    <message>
        <source>Start watching</source>
        <translation>Anza kufuatilia</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Folda ya kamera</translation>
    </message>
    <message>
        <source>This folder does not exist. Choose the folder the camera saves photos to.</source>
        <translation>Folda hii haipo. Chagua folda ambamo kamera huhifadhi picha.</translation>
    </message>
    <message>
        <source>Watching the camera folder.</source>
        <translation>Inafuatilia folda ya kamera.</translation>
    </message>
    <message>
        <source>The camera folder cannot be read right now.</source>
        <translation>Folda ya kamera haiwezi kusomwa kwa sasa.</translation>
    </message>
    <message>
        <source>taken</source>
        <translation>imepokelewa</translation>
    </message>
    <message>
        <source>Receiver off.</source>
        <translation>Upokeaji umezimwa.</translation>
    </message>
    <message>
        <source>Waiting for photos on {host}:{port} (AE title {ae}).</source>
        <translation>Inasubiri picha kwenye {host}:{port} (jina la AE {ae}).</translation>
    </message>
    <message>
        <source>Enter the AE title of the camera in Settings first.</source>
        <translation>Kwanza andika jina la AE la kamera kwenye Mipangilio.</translation>
    </message>
    <message>
        <source>The receiver could not start: the network port is in use. Choose another in Settings.</source>
        <translation>Upokeaji haukuweza kuanza: mlango wa mtandao unatumika. Chagua mwingine kwenye Mipangilio.</translation>
    </message>
    <message>
        <source>A photo arrived from the camera.</source>
        <translation>Picha imefika kutoka kwenye kamera.</translation>
    </message>
</context>
<context>
    <name>Store</name>
    <message>
        <source>Not saved: the disk is full. Free some space, then press Retry save.</source>
        <translation>Haijahifadhiwa: diski imejaa. Futa vitu ili kupata nafasi, kisha bonyeza Jaribu kuhifadhi tena.</translation>
    </message>
    <message>
        <source>Not saved: the records folder cannot be written. Choose another records folder in Settings, then press Retry save.</source>
        <translation>Haijahifadhiwa: folda ya kumbukumbu haiwezi kuandikwa. Chagua folda nyingine kwenye Mipangilio, kisha bonyeza Jaribu kuhifadhi tena.</translation>
    </message>
    <message>
        <source>Not saved: the records database is damaged. Choose another records folder in Settings.</source>
        <translation>Haijahifadhiwa: hifadhidata ya kumbukumbu imeharibika. Chagua folda nyingine kwenye Mipangilio.</translation>
    </message>
    <message>
        <source>Not saved: these records were made by a newer version of edge-screen. Update edge-screen.</source>
        <translation>Haijahifadhiwa: kumbukumbu hizi ziliundwa na toleo jipya la edge-screen. Sasisha edge-screen.</translation>
    </message>
    <message>
        <source>Not saved: the records folder has a problem. Check it in Settings, then press Retry save.</source>
        <translation>Haijahifadhiwa: folda ya kumbukumbu ina tatizo. Ikague kwenye Mipangilio, kisha bonyeza Jaribu kuhifadhi tena.</translation>
    </message>
</context>
<context>
    <name>Summary</name>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>Mpe rufaa kwa daktari wa macho</translation>
    </message>
    <message>
        <source>Signs were found in both eyes.</source>
        <translation>Dalili zimeonekana katika macho yote mawili.</translation>
    </message>
    <message>
        <source>Signs were found in the right eye.</source>
        <translation>Dalili zimeonekana katika jicho la kulia.</translation>
    </message>
    <message>
        <source>Signs were found in the left eye.</source>
        <translation>Dalili zimeonekana katika jicho la kushoto.</translation>
    </message>
    <message>
        <source>Retake the photos of both eyes</source>
        <translation>Piga picha za macho yote mawili tena</translation>
    </message>
    <message>
        <source>Retake the photo of the right eye</source>
        <translation>Piga picha ya jicho la kulia tena</translation>
    </message>
    <message>
        <source>Retake the photo of the left eye</source>
        <translation>Piga picha ya jicho la kushoto tena</translation>
    </message>
    <message>
        <source>A photo that cannot be graded gets no result.</source>
        <translation>Picha isiyoweza kutathminiwa haipati matokeo.</translation>
    </message>
    <message>
        <source>A file could not be used</source>
        <translation>Faili moja halikuweza kutumika</translation>
    </message>
    <message>
        <source>See the message below the eye, then open the photo again.</source>
        <translation>Soma ujumbe chini ya jicho, kisha fungua picha tena.</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>Inachunguza...</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>Hakuna dalili inayohitaji rufaa</translation>
    </message>
    <message>
        <source>The left eye has no photo yet.</source>
        <translation>Jicho la kushoto bado halina picha.</translation>
    </message>
    <message>
        <source>The right eye has no photo yet.</source>
        <translation>Jicho la kulia bado halina picha.</translation>
    </message>
    <message>
        <source>Both eyes were screened.</source>
        <translation>Macho yote mawili yamechunguzwa.</translation>
    </message>
    <message>
        <source>Ready for the next patient</source>
        <translation>Tayari kwa mgonjwa anayefuata</translation>
    </message>
    <message>
        <source>Enter the patient ID, choose the eye, then open, capture or drop a photo.</source>
        <translation>Andika kitambulisho cha mgonjwa, chagua jicho, kisha fungua, piga au buruta picha.</translation>
    </message>
    <message>
        <source>Patient: no ID (confirmed)</source>
        <translation>Mgonjwa: hana kitambulisho (imethibitishwa)</translation>
    </message>
    <message>
        <source>Patient: {patient}</source>
        <translation>Mgonjwa: {patient}</translation>
    </message>
    <message>
        <source>Patient: not entered yet</source>
        <translation>Mgonjwa: bado hajaandikwa</translation>
    </message>
</context>
<context>
    <name>VisitController</name>
    <message>
        <source>The patient of this visit cannot change any more. Press New patient to screen another patient.</source>
        <translation>Mgonjwa wa ziara hii hawezi kubadilishwa tena. Bonyeza Mgonjwa mpya kumchunguza mwingine.</translation>
    </message>
    <message>
        <source>New patient from the file: {patient}</source>
        <translation>Mgonjwa mpya kutoka kwenye faili: {patient}</translation>
    </message>
    <message>
        <source>Save without a patient ID? These photos cannot be found by patient later.</source>
        <translation>Hifadhi bila kitambulisho? Picha hizi hazitaweza kupatikana kwa jina la mgonjwa baadaye.</translation>
    </message>
    <message>
        <source>Save without ID</source>
        <translation>Hifadhi bila kitambulisho</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Ghairi</translation>
    </message>
    <message>
        <source>Corrected. This photo is now marked: {eye}.</source>
        <translation>Imerekebishwa. Picha hii sasa ni: {eye}.</translation>
    </message>
    <message>
        <source>An earlier photo of this eye was referred.</source>
        <translation>Picha ya awali ya jicho hili ilihitaji rufaa.</translation>
    </message>
</context>
</TS>
