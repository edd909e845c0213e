<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
<context>
    <name>Model</name>
    <message numerus="yes">
        <source>Calibrated on %n photo(s) from this clinic</source>
        <translation>
            <numerusform>Calibrated on %n photo from this clinic</numerusform>
            <numerusform>Calibrated on %n photos from this clinic</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Question</name>
    <message numerus="yes">
        <source>%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep them.</source>
        <translation>
            <numerusform>%n photo of this patient is not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep it.</numerusform>
            <numerusform>%n photos of this patient are not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep them.</numerusform>
        </translation>
    </message>
</context>
</TS>
