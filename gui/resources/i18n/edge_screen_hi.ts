<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="hi">
<context>
    <name>Details</name>
    <message>
        <source>Model: {model}</source>
        <translation>मॉडल: {model}</translation>
    </message>
    <message>
        <source>Runtime: {backend} ({precision})</source>
        <translation>इंजन: {backend} ({precision})</translation>
    </message>
    <message>
        <source>Score: {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>स्कोर: {score:.3f} ({threshold:.3f} या अधिक पर भेजें)</translation>
    </message>
    <message>
        <source>Quality codes: {codes}</source>
        <translation>गुणवत्ता कोड: {codes}</translation>
    </message>
    <message>
        <source>Time: {ms:.0f} ms</source>
        <translation>समय: {ms:.0f} ms</translation>
    </message>
</context>
<context>
    <name>Eye</name>
    <message>
        <source>Right eye (OD)</source>
        <translation>दाईं आँख (OD)</translation>
    </message>
    <message>
        <source>Left eye (OS)</source>
        <translation>बाईं आँख (OS)</translation>
    </message>
</context>
<context>
    <name>History</name>
    <message>
        <source>Records can be read but not saved. {problem}</source>
        <translation>रिकॉर्ड पढ़े जा सकते हैं, पर सहेजे नहीं जा सकते। {problem}</translation>
    </message>
    <message>
        <source>File</source>
        <translation>फ़ाइल</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>कैमरा</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>कैमरा फ़ोल्डर</translation>
    </message>
    <message>
        <source>DICOM file</source>
        <translation>DICOM फ़ाइल</translation>
    </message>
    <message>
        <source>DICOM network</source>
        <translation>DICOM नेटवर्क</translation>
    </message>
    <message>
        <source>(no ID)</source>
        <translation>(कोई ID नहीं)</translation>
    </message>
    <message>
        <source>PDF saved: {path}</source>
        <translation>PDF सहेजा गया: {path}</translation>
    </message>
    <message>
        <source>Export CSV</source>
        <translation>CSV निर्यात करें</translation>
    </message>
    <message>
        <source>CSV saved: {path}</source>
        <translation>CSV सहेजा गया: {path}</translation>
    </message>
</context>
<context>
    <name>HistoryPage</name>
    <message>
        <source>Search by patient ID, date, result or operator</source>
        <translation>मरीज़ ID, तारीख, परिणाम या ऑपरेटर से खोजें</translation>
    </message>
    <message>
        <source>PDF report of the selected visit</source>
        <translation>चुनी गई जाँच की PDF रिपोर्ट</translation>
    </message>
    <message>
        <source>Export CSV...</source>
        <translation>CSV निर्यात करें...</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>तारीख और समय</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>मरीज़</translation>
    </message>
    <message>
        <source>Eye</source>
        <translation>आँख</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>परिणाम</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>ऑपरेटर</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>स्रोत</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>edge-screen: eye screening</source>
        <translation>edge-screen: आँखों की जाँच</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>मरीज़ ID</translation>
    </message>
    <message>
        <source>Type or scan, then Enter</source>
        <translation>लिखें या स्कैन करें, फिर Enter</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>ऑपरेटर</translation>
    </message>
    <message>
        <source>Your name</source>
        <translation>आपका नाम</translation>
    </message>
    <message>
        <source>New patient</source>
        <translation>नया मरीज़</translation>
    </message>
    <message>
        <source>Screen</source>
        <translation>जाँच</translation>
    </message>
    <message>
        <source>History</source>
        <translation>इतिहास</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>सेटिंग्स</translation>
    </message>
</context>
<context>
    <name>Model</name>
    <message numerus="yes">
        <source>Calibrated on %n photo(s) from this clinic</source>
        <translation>
            <numerusform>इस क्लिनिक की %n फ़ोटो पर कैलिब्रेट किया गया</numerusform>
            <numerusform>इस क्लिनिक की %n फ़ोटो पर कैलिब्रेट किया गया</numerusform>
        </translation>
    </message>
    <message>
        <source>finds {sens:.0%} of eyes to refer, clears {spec:.0%} of healthy eyes</source>
        <translation>भेजने वाली {sens:.0%} आँखें पहचानता है, {spec:.0%} स्वस्थ आँखों को साफ़ बताता है</translation>
    </message>
    <message>
        <source>Loading the model...</source>
        <translation>मॉडल लोड हो रहा है...</translation>
    </message>
    <message>
        <source>Model ready</source>
        <translation>मॉडल तैयार</translation>
    </message>
    <message>
        <source>No model</source>
        <translation>कोई मॉडल नहीं</translation>
    </message>
    <message>
        <source>In use: {name} {version}</source>
        <translation>उपयोग में: {name} {version}</translation>
    </message>
    <message>
        <source>Not calibrated for this clinic.</source>
        <translation>इस क्लिनिक के लिए कैलिब्रेट नहीं किया गया।</translation>
    </message>
    <message>
        <source>Running on {backend} ({precision}).</source>
        <translation>{backend} ({precision}) पर चल रहा है।</translation>
    </message>
    <message>
        <source>Borderline results are checked again at full precision.</source>
        <translation>सीमा के पास के परिणाम पूरी सटीकता से दोबारा जाँचे जाते हैं।</translation>
    </message>
    <message>
        <source>No model could be loaded. Choose a model folder, or leave the field empty for the model that came with the app, then press Apply settings.</source>
        <translation>कोई मॉडल लोड नहीं हो सका। मॉडल फ़ोल्डर चुनें, या ऐप के साथ आए मॉडल के लिए खाना खाली छोड़ें, फिर सेटिंग्स लागू करें दबाएँ।</translation>
    </message>
</context>
<context>
    <name>Problem</name>
    <message>
        <source>Damaged file: re-export it</source>
        <translation>फ़ाइल ख़राब है: इसे दोबारा निर्यात करें</translation>
    </message>
    <message>
        <source>The file is incomplete or corrupt. Export it again from the camera, or copy it again.</source>
        <translation>फ़ाइल अधूरी या ख़राब है। इसे कैमरे से दोबारा निर्यात करें या फिर से कॉपी करें।</translation>
    </message>
    <message>
        <source>Not a photo the app can read</source>
        <translation>यह ऐसी फ़ोटो नहीं है जिसे ऐप पढ़ सके</translation>
    </message>
    <message>
        <source>Use a JPEG, PNG, TIFF, BMP or DICOM file.</source>
        <translation>JPEG, PNG, TIFF, BMP या DICOM फ़ाइल इस्तेमाल करें।</translation>
    </message>
    <message>
        <source>File not found</source>
        <translation>फ़ाइल नहीं मिली</translation>
    </message>
    <message>
        <source>It was moved or deleted. Choose it again.</source>
        <translation>इसे हटाया या मिटाया गया है। इसे फिर से चुनें।</translation>
    </message>
    <message>
        <source>The photo is too small</source>
        <translation>फ़ोटो बहुत छोटी है</translation>
    </message>
    <message>
        <source>Use the camera&apos;s full-size photo, not a thumbnail.</source>
        <translation>कैमरे की पूरे आकार की फ़ोटो इस्तेमाल करें, छोटी प्रति नहीं।</translation>
    </message>
    <message>
        <source>The file is too large to open safely</source>
        <translation>फ़ाइल सुरक्षित रूप से खोलने के लिए बहुत बड़ी है</translation>
    </message>
    <message>
        <source>Export a normal-size photo from the camera.</source>
        <translation>कैमरे से सामान्य आकार की फ़ोटो निर्यात करें।</translation>
    </message>
    <message>
        <source>The file cannot be read</source>
        <translation>फ़ाइल पढ़ी नहीं जा सकती</translation>
    </message>
    <message>
        <source>Check the disk or USB stick and try again.</source>
        <translation>डिस्क या USB स्टिक जाँचें और फिर कोशिश करें।</translation>
    </message>
    <message>
        <source>No model loaded: photos cannot be screened</source>
        <translation>कोई मॉडल लोड नहीं: फ़ोटो की जाँच नहीं हो सकती</translation>
    </message>
    <message>
        <source>Choose a screening model in Settings.</source>
        <translation>सेटिंग्स में जाँच का मॉडल चुनें।</translation>
    </message>
    <message>
        <source>The model gave no usable result for this photo</source>
        <translation>मॉडल ने इस फ़ोटो का कोई उपयोगी परिणाम नहीं दिया</translation>
    </message>
    <message>
        <source>Take the photo again. If every photo does this, ask for the model to be checked (Settings).</source>
        <translation>फ़ोटो दोबारा लें। अगर हर फ़ोटो के साथ ऐसा हो, तो मॉडल की जाँच करवाएँ (सेटिंग्स)।</translation>
    </message>
    <message>
        <source>Something went wrong while screening</source>
        <translation>जाँच के दौरान कुछ गड़बड़ हुई</translation>
    </message>
    <message>
        <source>Try again. If it happens again, restart the app.</source>
        <translation>फिर कोशिश करें। दोबारा हो तो ऐप फिर से शुरू करें।</translation>
    </message>
    <message>
        <source>This file could not be used</source>
        <translation>इस फ़ाइल का उपयोग नहीं हो सका</translation>
    </message>
    <message>
        <source>Try another photo.</source>
        <translation>दूसरी फ़ोटो आज़माएँ।</translation>
    </message>
</context>
<context>
    <name>Quality</name>
    <message>
        <source>Centre the eye in the camera and take the photo again.</source>
        <translation>आँख को कैमरे के बीच में रखें और फ़ोटो दोबारा लें।</translation>
    </message>
    <message>
        <source>Bring the camera closer so the retina fills the picture.</source>
        <translation>कैमरा पास लाएँ ताकि रेटिना पूरी तस्वीर भर दे।</translation>
    </message>
    <message>
        <source>no retina found</source>
        <translation>रेटिना नहीं दिखा</translation>
    </message>
    <message>
        <source>the retina is too small</source>
        <translation>रेटिना बहुत छोटा है</translation>
    </message>
    <message>
        <source>not a photo of the retina</source>
        <translation>यह रेटिना की फ़ोटो नहीं</translation>
    </message>
    <message>
        <source>Take a photo of the back of the eye with the fundus camera.</source>
        <translation>फ़ंडस कैमरे से आँख के पिछले हिस्से की फ़ोटो लें।</translation>
    </message>
    <message>
        <source>a colour photo is needed</source>
        <translation>रंगीन फ़ोटो चाहिए</translation>
    </message>
    <message>
        <source>Switch off the red-free or black-and-white mode and take a colour photo.</source>
        <translation>रेड-फ़्री या ब्लैक-एंड-व्हाइट मोड बंद करें और रंगीन फ़ोटो लें।</translation>
    </message>
    <message>
        <source>too dark</source>
        <translation>बहुत अँधेरी</translation>
    </message>
    <message>
        <source>too bright</source>
        <translation>बहुत चमकीली</translation>
    </message>
    <message>
        <source>washed out</source>
        <translation>फीकी</translation>
    </message>
    <message>
        <source>blurred</source>
        <translation>धुंधली</translation>
    </message>
    <message>
        <source>hazy</source>
        <translation>धुँधलाई हुई</translation>
    </message>
    <message>
        <source>too few pixels</source>
        <translation>बहुत कम पिक्सेल</translation>
    </message>
    <message>
        <source>unlike the photos the model knows</source>
        <translation>मॉडल की जानी फ़ोटो से अलग</translation>
    </message>
    <message>
        <source>it cannot be graded</source>
        <translation>आकलन संभव नहीं</translation>
    </message>
    <message>
        <source>Dim the room so the pupil opens, or use more flash, then retake.</source>
        <translation>कमरे की रोशनी कम करें ताकि पुतली खुले, या फ़्लैश बढ़ाएँ, फिर दोबारा लें।</translation>
    </message>
    <message>
        <source>Use less flash and take the photo again.</source>
        <translation>फ़्लैश कम करें और फ़ोटो दोबारा लें।</translation>
    </message>
    <message>
        <source>Check the focus and the flash, then take the photo again.</source>
        <translation>फ़ोकस और फ़्लैश जाँचें, फिर फ़ोटो दोबारा लें।</translation>
    </message>
    <message>
        <source>Focus on the retina, hold the camera still and take the photo again.</source>
        <translation>रेटिना पर फ़ोकस करें, कैमरा स्थिर रखें और फ़ोटो दोबारा लें।</translation>
    </message>
    <message>
        <source>Clean the camera lens and take the photo again.</source>
        <translation>कैमरे का लेंस साफ़ करें और फ़ोटो दोबारा लें।</translation>
    </message>
    <message>
        <source>Send the full-size photo from the camera, not a small copy.</source>
        <translation>कैमरे से पूरे आकार की फ़ोटो भेजें, छोटी प्रति नहीं।</translation>
    </message>
    <message>
        <source>Take a standard colour photo of the retina with the clinic&apos;s camera.</source>
        <translation>क्लिनिक के कैमरे से रेटिना की सामान्य रंगीन फ़ोटो लें।</translation>
    </message>
    <message>
        <source>Take the photo again.</source>
        <translation>फ़ोटो दोबारा लें।</translation>
    </message>
</context>
<context>
    <name>Question</name>
    <message>
        <source>This file belongs to patient {file}, but this visit is saved without a patient ID.</source>
        <translation>यह फ़ाइल मरीज़ {file} की है, पर यह जाँच बिना मरीज़ ID के सहेजी गई है।</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}, but the patient ID field says {typed}.</source>
        <translation>यह फ़ाइल मरीज़ {file} की है, पर मरीज़ ID खाने में {typed} लिखा है।</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}. The photos taken before it have no patient ID. Are they the same patient?</source>
        <translation>यह फ़ाइल मरीज़ {file} की है। इससे पहले ली गई फ़ोटो में मरीज़ ID नहीं है। क्या वे इसी मरीज़ की हैं?</translation>
    </message>
    <message>
        <source>This photo has no patient ID. Is it patient {patient}?</source>
        <translation>इस फ़ोटो में मरीज़ ID नहीं है। क्या यह मरीज़ {patient} की है?</translation>
    </message>
    <message>
        <source>Which eye is this photo?</source>
        <translation>यह फ़ोटो किस आँख की है?</translation>
    </message>
    <message numerus="yes">
        <source>%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep them.</source>
        <translation>
            <numerusform>इस मरीज़ की %n फ़ोटो सहेजी नहीं गई क्योंकि मरीज़ ID नहीं है। उसे रखने के लिए ID लिखें, या बिना ID सहेजें चुनें।</numerusform>
            <numerusform>इस मरीज़ की %n फ़ोटो सहेजी नहीं गईं क्योंकि मरीज़ ID नहीं है। उन्हें रखने के लिए ID लिखें, या बिना ID सहेजें चुनें।</numerusform>
        </translation>
    </message>
    <message>
        <source>New patient: {patient}</source>
        <translation>नया मरीज़: {patient}</translation>
    </message>
    <message>
        <source>Yes, the same patient</source>
        <translation>हाँ, यही मरीज़</translation>
    </message>
    <message>
        <source>No: discard them</source>
        <translation>नहीं: उन्हें हटाएँ</translation>
    </message>
    <message>
        <source>No, a new patient</source>
        <translation>नहीं, नया मरीज़</translation>
    </message>
    <message>
        <source>Do not use this photo</source>
        <translation>यह फ़ोटो इस्तेमाल न करें</translation>
    </message>
    <message>
        <source>Discard them and start a new patient</source>
        <translation>उन्हें हटाएँ और नया मरीज़ शुरू करें</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>रद्द करें</translation>
    </message>
</context>
<context>
    <name>Report</name>
    <message>
        <source>Eye screening report</source>
        <translation>आँखों की जाँच की रिपोर्ट</translation>
    </message>
    <message>
        <source>no ID (confirmed by the operator)</source>
        <translation>कोई ID नहीं (ऑपरेटर ने पुष्टि की)</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>मरीज़ ID</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>तारीख और समय</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>ऑपरेटर</translation>
    </message>
    <message>
        <source>Screening support, not a diagnosis. An eye specialist must confirm any finding. A normal result does not rule out eye disease.</source>
        <translation>यह जाँच में मदद है, निदान नहीं। हर नतीजे की पुष्टि नेत्र विशेषज्ञ को करनी होगी। सामान्य परिणाम से आँख की बीमारी की संभावना ख़त्म नहीं होती।</translation>
    </message>
    <message>
        <source>No photo of this eye was saved.</source>
        <translation>इस आँख की कोई फ़ोटो सहेजी नहीं गई।</translation>
    </message>
    <message>
        <source>Saved: {time}</source>
        <translation>सहेजा गया: {time}</translation>
    </message>
    <message>
        <source>Score {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>स्कोर {score:.3f} ({threshold:.3f} या अधिक पर भेजें)</translation>
    </message>
    <message>
        <source>Model {model} on {backend}</source>
        <translation>मॉडल {model}, {backend} पर</translation>
    </message>
    <message>
        <source>Corrections:</source>
        <translation>सुधार:</translation>
    </message>
    <message>
        <source>eye</source>
        <translation>आँख</translation>
    </message>
    <message>
        <source>operator</source>
        <translation>ऑपरेटर</translation>
    </message>
    <message>
        <source>{field} changed to {value} by {by}, {time}</source>
        <translation>{by} ने {field} बदलकर {value} किया, {time}</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>लक्षण कहाँ हैं:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>कमज़ोर</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>तेज़</translation>
    </message>
</context>
<context>
    <name>Result</name>
    <message>
        <source>Retake the photo: {reason}</source>
        <translation>फ़ोटो दोबारा लें: {reason}</translation>
    </message>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>नेत्र विशेषज्ञ के पास भेजें</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>भेजने लायक कोई लक्षण नहीं मिला</translation>
    </message>
    <message>
        <source>Ungradable: retake</source>
        <translation>आकलन संभव नहीं: दोबारा लें</translation>
    </message>
    <message>
        <source>Unknown</source>
        <translation>अज्ञात</translation>
    </message>
    <message>
        <source>No photo yet</source>
        <translation>अभी कोई फ़ोटो नहीं</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>जाँच हो रही है...</translation>
    </message>
    <message>
        <source>Choose the eye, then open, capture or drop a photo.</source>
        <translation>आँख चुनें, फिर फ़ोटो खोलें, लें या यहाँ खींचकर छोड़ें।</translation>
    </message>
    <message>
        <source>Signs that need an eye specialist were found in this photo.</source>
        <translation>इस फ़ोटो में ऐसे लक्षण मिले जिन्हें नेत्र विशेषज्ञ को देखना चाहिए।</translation>
    </message>
    <message>
        <source>A normal result does not rule out eye disease.</source>
        <translation>सामान्य परिणाम से आँख की बीमारी की संभावना ख़त्म नहीं होती।</translation>
    </message>
</context>
<context>
    <name>Save</name>
    <message>
        <source>Saved as an ungradable attempt.</source>
        <translation>आकलन न हो सकने वाले प्रयास के रूप में सहेजा गया।</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>सहेजा गया।</translation>
    </message>
    <message>
        <source>Not saved: no result for this photo.</source>
        <translation>सहेजा नहीं गया: इस फ़ोटो का कोई परिणाम नहीं।</translation>
    </message>
    <message>
        <source>Saving...</source>
        <translation>सहेजा जा रहा है...</translation>
    </message>
    <message>
        <source>Not saved yet: enter the patient ID and press Enter.</source>
        <translation>अभी सहेजा नहीं गया: मरीज़ ID लिखें और Enter दबाएँ।</translation>
    </message>
</context>
<context>
    <name>ScreenPage</name>
    <message>
        <source>Photo from</source>
        <translation>फ़ोटो कहाँ से</translation>
    </message>
    <message>
        <source>File</source>
        <translation>फ़ाइल</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>कैमरा</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>कैमरा फ़ोल्डर</translation>
    </message>
    <message>
        <source>DICOM</source>
        <translation>DICOM</translation>
    </message>
    <message>
        <source>Open photo...</source>
        <translation>फ़ोटो खोलें...</translation>
    </message>
    <message>
        <source>Or drag a photo onto this window.</source>
        <translation>या फ़ोटो को खींचकर इस विंडो पर छोड़ें।</translation>
    </message>
    <message>
        <source>Find cameras</source>
        <translation>कैमरे खोजें</translation>
    </message>
    <message>
        <source>Capture (Space)</source>
        <translation>फ़ोटो लें (Space)</translation>
    </message>
    <message>
        <source>The folder the camera saves photos to:</source>
        <translation>वह फ़ोल्डर जहाँ कैमरा फ़ोटो रखता है:</translation>
    </message>
    <message>
        <source>Choose folder...</source>
        <translation>फ़ोल्डर चुनें...</translation>
    </message>
    <message>
        <source>Open DICOM file...</source>
        <translation>DICOM फ़ाइल खोलें...</translation>
    </message>
    <message>
        <source>Receive from the camera</source>
        <translation>कैमरे से प्राप्त करें</translation>
    </message>
    <message>
        <source>Show where the signs are</source>
        <translation>दिखाएँ कि लक्षण कहाँ हैं</translation>
    </message>
    <message>
        <source>Details</source>
        <translation>विवरण</translation>
    </message>
    <message>
        <source>Save without ID...</source>
        <translation>बिना ID सहेजें...</translation>
    </message>
    <message>
        <source>Retry save</source>
        <translation>फिर से सहेजें</translation>
    </message>
    <message>
        <source>PDF report</source>
        <translation>PDF रिपोर्ट</translation>
    </message>
    <message>
        <source>This is the left eye</source>
        <translation>यह बाईं आँख है</translation>
    </message>
    <message>
        <source>This is the right eye</source>
        <translation>यह दाईं आँख है</translation>
    </message>
    <message>
        <source>Keep as ungradable</source>
        <translation>बिना परिणाम वाली फ़ोटो के रूप में रखें</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>लक्षण कहाँ हैं:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>कमज़ोर</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>तेज़</translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message>
        <source>Automatic (the fastest installed)</source>
        <translation>स्वचालित (सबसे तेज़ इंस्टॉल किया हुआ)</translation>
    </message>
    <message>
        <source>{name} (not installed)</source>
        <translation>{name} (इंस्टॉल नहीं)</translation>
    </message>
    <message>
        <source>The camera AE titles are not valid: up to 16 letters or digits each, separated by commas. Nothing was changed.</source>
        <translation>कैमरों के AE टाइटल सही नहीं हैं: हर एक में अधिकतम 16 अक्षर या अंक, कॉमा से अलग। कुछ नहीं बदला गया।</translation>
    </message>
    <message>
        <source>Settings saved.</source>
        <translation>सेटिंग्स सहेजी गईं।</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Screening model</source>
        <translation>जाँच का मॉडल</translation>
    </message>
    <message>
        <source>Model folder or file</source>
        <translation>मॉडल फ़ोल्डर या फ़ाइल</translation>
    </message>
    <message>
        <source>Empty: the model that came with the app</source>
        <translation>खाली: ऐप के साथ आया मॉडल</translation>
    </message>
    <message>
        <source>Choose...</source>
        <translation>चुनें...</translation>
    </message>
    <message>
        <source>Records and language</source>
        <translation>रिकॉर्ड और भाषा</translation>
    </message>
    <message>
        <source>Records folder</source>
        <translation>रिकॉर्ड फ़ोल्डर</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>भाषा</translation>
    </message>
    <message>
        <source>Receiving from the camera (DICOM)</source>
        <translation>कैमरे से प्राप्ति (DICOM)</translation>
    </message>
    <message>
        <source>Network port</source>
        <translation>नेटवर्क पोर्ट</translation>
    </message>
    <message>
        <source>Cameras allowed to send (AE titles)</source>
        <translation>भेजने की अनुमति वाले कैमरे (AE टाइटल)</translation>
    </message>
    <message>
        <source>e.g. FUNDUSCAM, separated by commas</source>
        <translation>जैसे FUNDUSCAM, कॉमा से अलग करें</translation>
    </message>
    <message>
        <source>Largest photo accepted (MB)</source>
        <translation>सबसे बड़ी स्वीकार्य फ़ोटो (MB)</translation>
    </message>
    <message>
        <source>Also accept general photos (VL Photographic, Secondary Capture)</source>
        <translation>सामान्य फ़ोटो भी स्वीकार करें (VL Photographic, Secondary Capture)</translation>
    </message>
    <message>
        <source>Advanced (for the IT person)</source>
        <translation>उन्नत (IT व्यक्ति के लिए)</translation>
    </message>
    <message>
        <source>Inference engine</source>
        <translation>इन्फ़रेंस इंजन</translation>
    </message>
    <message>
        <source>Processor threads</source>
        <translation>प्रोसेसर थ्रेड</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>स्वचालित</translation>
    </message>
    <message>
        <source>Apply settings</source>
        <translation>सेटिंग्स लागू करें</translation>
    </message>
</context>
<context>
    <name>Sources</name>
    <message>
        <source>Open photo</source>
        <translation>फ़ोटो खोलें</translation>
    </message>
    <message>
        <source>Stop preview</source>
        <translation>पूर्वावलोकन रोकें</translation>
    </message>
    <message>
        <source>Start preview</source>
        <translation>पूर्वावलोकन शुरू करें</translation>
    </message>
    <message>
        <source>No camera found. Plug in the camera and press Find cameras.</source>
        <translation>कोई कैमरा नहीं मिला। कैमरा लगाएँ और कैमरे खोजें दबाएँ।</translation>
    </message>
    <message>
        <source>The camera could not be opened. Check it is plugged in and not used by another program.</source>
        <translation>कैमरा खुल नहीं सका। देखें कि वह लगा है और कोई दूसरा प्रोग्राम उसे इस्तेमाल नहीं कर रहा।</translation>
    </message>
    <message>
        <source>Camera ready: {w} x {h}</source>
        <translation>कैमरा तैयार: {w} x {h}</translation>
    </message>
    <message>
        <source>The camera stopped sending pictures. Check the cable and press Start preview.</source>
        <translation>कैमरे ने तस्वीरें भेजना बंद कर दिया। केबल जाँचें और पूर्वावलोकन शुरू करें दबाएँ।</translation>
    </message>
    <message>
        <source>Stop watching</source>
        <translation>निगरानी रोकें</translation>
    </message>
    <message>
        <source>Start watching</source>
        <translation>निगरानी शुरू करें</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>कैमरा फ़ोल्डर</translation>
    </message>
    <message>
        <source>This folder does not exist. Choose the folder the camera saves photos to.</source>
        <translation>यह फ़ोल्डर मौजूद नहीं है। वह फ़ोल्डर चुनें जहाँ कैमरा फ़ोटो रखता है।</translation>
    </message>
    <message>
        <source>Watching the camera folder.</source>
        <translation>कैमरा फ़ोल्डर पर नज़र रखी जा रही है।</translation>
    </message>
    <message>
        <source>The camera folder cannot be read right now.</source>
        <translation>अभी कैमरा फ़ोल्डर पढ़ा नहीं जा सकता।</translation>
    </message>
    <message>
        <source>taken</source>
        <translation>ली गई</translation>
    </message>
    <message>
        <source>Receiver off.</source>
        <translation>प्राप्ति बंद है।</translation>
    </message>
    <message>
        <source>Waiting for photos on {host}:{port} (AE title {ae}).</source>
        <translation>{host}:{port} पर फ़ोटो का इंतज़ार (AE टाइटल {ae})।</translation>
    </message>
    <message>
        <source>Enter the AE title of the camera in Settings first.</source>
        <translation>पहले सेटिंग्स में कैमरे का AE टाइटल लिखें।</translation>
    </message>
    <message>
        <source>The receiver could not start: the network port is in use. Choose another in Settings.</source>
        <translation>प्राप्ति शुरू नहीं हो सकी: नेटवर्क पोर्ट पहले से उपयोग में है। सेटिंग्स में दूसरा चुनें।</translation>
    </message>
    <message>
        <source>A photo arrived from the camera.</source>
        <translation>कैमरे से एक फ़ोटो आई।</translation>
    </message>
</context>
<context>
    <name>Store</name>
    <message>
        <source>Not saved: the disk is full. Free some space, then press Retry save.</source>
        <translation>सहेजा नहीं गया: डिस्क भरी हुई है। कुछ जगह ख़ाली करें, फिर फिर से सहेजें दबाएँ।</translation>
    </message>
    <message>
        <source>Not saved: the records folder cannot be written. Choose another records folder in Settings, then press Retry save.</source>
        <translation>सहेजा नहीं गया: रिकॉर्ड फ़ोल्डर में लिखा नहीं जा सकता। सेटिंग्स में दूसरा फ़ोल्डर चुनें, फिर फिर से सहेजें दबाएँ।</translation>
    </message>
    <message>
        <source>Not saved: the records database is damaged. Choose another records folder in Settings.</source>
        <translation>सहेजा नहीं गया: रिकॉर्ड का डेटाबेस ख़राब है। सेटिंग्स में दूसरा रिकॉर्ड फ़ोल्डर चुनें।</translation>
    </message>
    <message>
        <source>Not saved: these records were made by a newer version of edge-screen. Update edge-screen.</source>
        <translation>सहेजा नहीं गया: ये रिकॉर्ड edge-screen के नए संस्करण से बने हैं। edge-screen अपडेट करें।</translation>
    </message>
    <message>
        <source>Not saved: the records folder has a problem. Check it in Settings, then press Retry save.</source>
        <translation>सहेजा नहीं गया: रिकॉर्ड फ़ोल्डर में समस्या है। सेटिंग्स में जाँचें, फिर फिर से सहेजें दबाएँ।</translation>
    </message>
</context>
<context>
    <name>Summary</name>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>नेत्र विशेषज्ञ के पास भेजें</translation>
    </message>
    <message>
        <source>Signs were found in both eyes.</source>
        <translation>दोनों आँखों में लक्षण मिले।</translation>
    </message>
    <message>
        <source>Signs were found in the right eye.</source>
        <translation>दाईं आँख में लक्षण मिले।</translation>
    </message>
    <message>
        <source>Signs were found in the left eye.</source>
        <translation>बाईं आँख में लक्षण मिले।</translation>
    </message>
    <message>
        <source>Retake the photos of both eyes</source>
        <translation>दोनों आँखों की फ़ोटो दोबारा लें</translation>
    </message>
    <message>
        <source>Retake the photo of the right eye</source>
        <translation>दाईं आँख की फ़ोटो दोबारा लें</translation>
    </message>
    <message>
        <source>Retake the photo of the left eye</source>
        <translation>बाईं आँख की फ़ोटो दोबारा लें</translation>
    </message>
    <message>
        <source>A photo that cannot be graded gets no result.</source>
        <translation>जिस फ़ोटो का आकलन न हो सके, उसका कोई परिणाम नहीं होता।</translation>
    </message>
    <message>
        <source>A file could not be used</source>
        <translation>एक फ़ाइल का उपयोग नहीं हो सका</translation>
    </message>
    <message>
        <source>See the message below the eye, then open the photo again.</source>
        <translation>आँख के नीचे का संदेश देखें, फिर फ़ोटो दोबारा खोलें।</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>जाँच हो रही है...</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>भेजने लायक कोई लक्षण नहीं मिला</translation>
    </message>
    <message>
        <source>The left eye has no photo yet.</source>
        <translation>बाईं आँख की अभी कोई फ़ोटो नहीं है।</translation>
    </message>
    <message>
        <source>The right eye has no photo yet.</source>
        <translation>दाईं आँख की अभी कोई फ़ोटो नहीं है।</translation>
    </message>
    <message>
        <source>Both eyes were screened.</source>
        <translation>दोनों आँखों की जाँच हो गई।</translation>
    </message>
    <message>
        <source>Ready for the next patient</source>
        <translation>अगले मरीज़ के लिए तैयार</translation>
    </message>
    <message>
        <source>Enter the patient ID, choose the eye, then open, capture or drop a photo.</source>
        <translation>मरीज़ ID लिखें, आँख चुनें, फिर फ़ोटो खोलें, लें या खींचकर छोड़ें।</translation>
    </message>
    <message>
        <source>Patient: no ID (confirmed)</source>
        <translation>मरीज़: कोई ID नहीं (पुष्टि की गई)</translation>
    </message>
    <message>
        <source>Patient: {patient}</source>
        <translation>मरीज़: {patient}</translation>
    </message>
    <message>
        <source>Patient: not entered yet</source>
        <translation>मरीज़: अभी दर्ज नहीं</translation>
    </message>
</context>
<context>
    <name>VisitController</name>
    <message>
        <source>The patient of this visit cannot change any more. Press New patient to screen another patient.</source>
        <translation>इस जाँच का मरीज़ अब बदला नहीं जा सकता। दूसरे मरीज़ के लिए नया मरीज़ दबाएँ।</translation>
    </message>
    <message>
        <source>New patient from the file: {patient}</source>
        <translation>फ़ाइल से नया मरीज़: {patient}</translation>
    </message>
    <message>
        <source>Save without a patient ID? These photos cannot be found by patient later.</source>
        <translation>बिना मरीज़ ID के सहेजें? बाद में ये फ़ोटो मरीज़ के नाम से नहीं मिलेंगी।</translation>
    </message>
    <message>
        <source>Save without ID</source>
        <translation>बिना ID सहेजें</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>रद्द करें</translation>
    </message>
    <message>
        <source>Corrected. This photo is now marked: {eye}.</source>
        <translation>सुधार दिया गया। यह फ़ोटो अब है: {eye}।</translation>
    </message>
    <message>
        <source>An earlier photo of this eye was referred.</source>
        <translation>इस आँख की पिछली फ़ोटो में भेजने लायक लक्षण थे।</translation>
    </message>
</context>
</TS>
