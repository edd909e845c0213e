<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="es">
<context>
    <name>Details</name>
    <message>
        <source>Model: {model}</source>
        <translation>Modelo: {model}</translation>
    </message>
    <message>
        <source>Runtime: {backend} ({precision})</source>
        <translation>Motor: {backend} ({precision})</translation>
    </message>
    <message>
        <source>Score: {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>Puntuación: {score:.3f} (derivar desde {threshold:.3f})</translation>
    </message>
    <message>
        <source>Quality codes: {codes}</source>
        <translation>Códigos de calidad: {codes}</translation>
    </message>
    <message>
        <source>Time: {ms:.0f} ms</source>
        <translation>Tiempo: {ms:.0f} ms</translation>
    </message>
</context>
<context>
    <name>Eye</name>
    <message>
        <source>Right eye (OD)</source>
        <translation>Ojo derecho (OD)</translation>
    </message>
    <message>
        <source>Left eye (OS)</source>
        <translation>Ojo izquierdo (OI)</translation>
    </message>
</context>
<context>
    <name>History</name>
    <message>
        <source>Records can be read but not saved. {problem}</source>
        <translation>Los registros se pueden leer, pero no guardar. {problem}</translation>
    </message>
    <message>
        <source>File</source>
        <translation>Archivo</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Cámara</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Carpeta de la cámara</translation>
    </message>
    <message>
        <source>DICOM file</source>
        <translation>Archivo DICOM</translation>
    </message>
    <message>
        <source>DICOM network</source>
        <translation>Red DICOM</translation>
    </message>
    <message>
        <source>(no ID)</source>
        <translation>(sin ID)</translation>
    </message>
    <message>
        <source>PDF saved: {path}</source>
        <translation>PDF guardado: {path}</translation>
    </message>
    <message>
        <source>Export CSV</source>
        <translation>Exportar CSV</translation>
    </message>
    <message>
        <source>CSV saved: {path}</source>
        <translation>CSV guardado: {path}</translation>
    </message>
</context>
<context>
    <name>HistoryPage</name>
    <message>
        <source>Search by patient ID, date, result or operator</source>
        <translation>Buscar por ID del paciente, fecha, resultado u operador</translation>
    </message>
    <message>
        <source>PDF report of the selected visit</source>
        <translation>Informe PDF de la visita elegida</translation>
    </message>
    <message>
        <source>Export CSV...</source>
        <translation>Exportar CSV...</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>Fecha y hora</translation>
    </message>
    <message>
        <source>Patient</source>
        <translation>Paciente</translation>
    </message>
    <message>
        <source>Eye</source>
        <translation>Ojo</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Resultado</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Operador</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>Origen</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>edge-screen: eye screening</source>
        <translation>edge-screen: cribado de ojos</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>ID del paciente</translation>
    </message>
    <message>
        <source>Type or scan, then Enter</source>
        <translation>Escriba o escanee</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Operador</translation>
    </message>
    <message>
        <source>Your name</source>
        <translation>Su nombre</translation>
    </message>
    <message>
        <source>New patient</source>
        <translation>Nuevo paciente</translation>
    </message>
    <message>
        <source>Screen</source>
        <translation>Cribado</translation>
    </message>
    <message>
        <source>History</source>
        <translation>Historial</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>Ajustes</translation>
    </message>
</context>
<context>
    <name>Model</name>
    <message numerus="yes">
        <source>Calibrated on %n photo(s) from this clinic</source>
        <translation>
            <numerusform>Calibrado con %n foto de esta clínica</numerusform>
            <numerusform>Calibrado con %n fotos de esta clínica</numerusform>
        </translation>
    </message>
    <message>
        <source>finds {sens:.0%} of eyes to refer, clears {spec:.0%} of healthy eyes</source>
        <translation>detecta el {sens:.0%} de los ojos a derivar y descarta el {spec:.0%} de los ojos sanos</translation>
    </message>
    <message>
        <source>Loading the model...</source>
        <translation>Cargando el modelo...</translation>
    </message>
    <message>
        <source>Model ready</source>
        <translation>Modelo listo</translation>
    </message>
    <message>
        <source>No model</source>
        <translation>Sin modelo</translation>
    </message>
    <message>
        <source>In use: {name} {version}</source>
        <translation>En uso: {name} {version}</translation>
    </message>
    <message>
        <source>Not calibrated for this clinic.</source>
        <translation>No calibrado para esta clínica.</translation>
    </message>
    <message>
        <source>Running on {backend} ({precision}).</source>
        <translation>Funciona con {backend} ({precision}).</translation>
    </message>
    <message>
        <source>Borderline results are checked again at full precision.</source>
        <translation>Los resultados dudosos se vuelven a comprobar con precisión completa.</translation>
    </message>
    <message>
        <source>No model could be loaded. Choose a model folder, or leave the field empty for the model that came with the app, then press Apply settings.</source>
        <translation>No se pudo cargar ningún modelo. Elija una carpeta de modelo, o deje el campo vacío para usar el modelo incluido, y pulse Aplicar ajustes.</translation>
    </message>
</context>
<context>
    <name>Problem</name>
    <message>
        <source>Damaged file: re-export it</source>
        <translation>Archivo dañado: expórtelo de nuevo</translation>
    </message>
    <message>
        <source>The file is incomplete or corrupt. Export it again from the camera, or copy it again.</source>
        <translation>El archivo está incompleto o dañado. Expórtelo otra vez desde la cámara o cópielo de nuevo.</translation>
    </message>
    <message>
        <source>Not a photo the app can read</source>
        <translation>No es una foto que la aplicación pueda leer</translation>
    </message>
    <message>
        <source>Use a JPEG, PNG, TIFF, BMP or DICOM file.</source>
        <translation>Use un archivo JPEG, PNG, TIFF, BMP o DICOM.</translation>
    </message>
    <message>
        <source>File not found</source>
        <translation>Archivo no encontrado</translation>
    </message>
    <message>
        <source>It was moved or deleted. Choose it again.</source>
        <translation>Se movió o se borró. Vuelva a elegirlo.</translation>
    </message>
    <message>
        <source>The photo is too small</source>
        <translation>La foto es demasiado pequeña</translation>
    </message>
    <message>
        <source>Use the camera&apos;s full-size photo, not a thumbnail.</source>
        <translation>Use la foto a tamaño completo de la cámara, no una miniatura.</translation>
    </message>
    <message>
        <source>The file is too large to open safely</source>
        <translation>El archivo es demasiado grande para abrirlo con seguridad</translation>
    </message>
    <message>
        <source>Export a normal-size photo from the camera.</source>
        <translation>Exporte desde la cámara una foto de tamaño normal.</translation>
    </message>
    <message>
        <source>The file cannot be read</source>
        <translation>No se puede leer el archivo</translation>
    </message>
    <message>
        <source>Check the disk or USB stick and try again.</source>
        <translation>Revise el disco o la memoria USB e inténtelo de nuevo.</translation>
    </message>
    <message>
        <source>No model loaded: photos cannot be screened</source>
        <translation>No hay modelo cargado: no se pueden analizar fotos</translation>
    </message>
    <message>
        <source>Choose a screening model in Settings.</source>
        <translation>Elija un modelo de cribado en Ajustes.</translation>
    </message>
    <message>
        <source>The model gave no usable result for this photo</source>
        <translation>El modelo no dio un resultado válido para esta foto</translation>
    </message>
    <message>
        <source>Take the photo again. If every photo does this, ask for the model to be checked (Settings).</source>
        <translation>Repita la foto. Si ocurre con todas las fotos, pida que revisen el modelo (Ajustes).</translation>
    </message>
    <message>
        <source>Something went wrong while screening</source>
        <translation>Algo falló durante el análisis</translation>
    </message>
    <message>
        <source>Try again. If it happens again, restart the app.</source>
        <translation>Inténtelo de nuevo. Si vuelve a ocurrir, reinicie la aplicación.</translation>
    </message>
    <message>
        <source>This file could not be used</source>
        <translation>No se pudo usar este archivo</translation>
    </message>
    <message>
        <source>Try another photo.</source>
        <translation>Pruebe con otra foto.</translation>
    </message>
</context>
<context>
    <name>Quality</name>
    <message>
        <source>Centre the eye in the camera and take the photo again.</source>
        <translation>Centre el ojo en la cámara y repita la foto.</translation>
    </message>
    <message>
        <source>Bring the camera closer so the retina fills the picture.</source>
        <translation>Acerque la cámara para que la retina llene la imagen.</translation>
    </message>
    <message>
        <source>no retina found</source>
        <translation>no se ve la retina</translation>
    </message>
    <message>
        <source>the retina is too small</source>
        <translation>la retina se ve muy pequeña</translation>
    </message>
    <message>
        <source>not a photo of the retina</source>
        <translation>no es una foto de la retina</translation>
    </message>
    <message>
        <source>Take a photo of the back of the eye with the fundus camera.</source>
        <translation>Tome una foto del fondo del ojo con la cámara de fondo de ojo.</translation>
    </message>
    <message>
        <source>a colour photo is needed</source>
        <translation>se necesita una foto en color</translation>
    </message>
    <message>
        <source>Switch off the red-free or black-and-white mode and take a colour photo.</source>
        <translation>Desactive el modo aneritra o blanco y negro y tome una foto en color.</translation>
    </message>
    <message>
        <source>too dark</source>
        <translation>demasiado oscura</translation>
    </message>
    <message>
        <source>too bright</source>
        <translation>demasiado clara</translation>
    </message>
    <message>
        <source>washed out</source>
        <translation>desvaída</translation>
    </message>
    <message>
        <source>blurred</source>
        <translation>borrosa</translation>
    </message>
    <message>
        <source>hazy</source>
        <translation>velada</translation>
    </message>
    <message>
        <source>too few pixels</source>
        <translation>tiene muy pocos píxeles</translation>
    </message>
    <message>
        <source>unlike the photos the model knows</source>
        <translation>distinta de las fotos que conoce el modelo</translation>
    </message>
    <message>
        <source>it cannot be graded</source>
        <translation>no se puede evaluar</translation>
    </message>
    <message>
        <source>Dim the room so the pupil opens, or use more flash, then retake.</source>
        <translation>Atenúe la luz de la sala para que la pupila se abra, o use más flash, y repita la foto.</translation>
    </message>
    <message>
        <source>Use less flash and take the photo again.</source>
        <translation>Use menos flash y repita la foto.</translation>
    </message>
    <message>
        <source>Check the focus and the flash, then take the photo again.</source>
        <translation>Revise el enfoque y el flash, y repita la foto.</translation>
    </message>
    <message>
        <source>Focus on the retina, hold the camera still and take the photo again.</source>
        <translation>Enfoque la retina, mantenga la cámara quieta y repita la foto.</translation>
    </message>
    <message>
        <source>Clean the camera lens and take the photo again.</source>
        <translation>Limpie la lente de la cámara y repita la foto.</translation>
    </message>
    <message>
        <source>Send the full-size photo from the camera, not a small copy.</source>
        <translation>Envíe la foto a tamaño completo desde la cámara, no una copia pequeña.</translation>
    </message>
    <message>
        <source>Take a standard colour photo of the retina with the clinic&apos;s camera.</source>
        <translation>Tome una foto normal en color de la retina con la cámara de la clínica.</translation>
    </message>
    <message>
        <source>Take the photo again.</source>
        <translation>Repita la foto.</translation>
    </message>
</context>
<context>
    <name>Question</name>
    <message>
        <source>This file belongs to patient {file}, but this visit is saved without a patient ID.</source>
        <translation>Este archivo es del paciente {file}, pero esta visita se guardó sin ID de paciente.</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}, but the patient ID field says {typed}.</source>
        <translation>Este archivo es del paciente {file}, pero el campo de ID del paciente dice {typed}.</translation>
    </message>
    <message>
        <source>This file belongs to patient {file}. The photos taken before it have no patient ID. Are they the same patient?</source>
        <translation>Este archivo es del paciente {file}. Las fotos tomadas antes no tienen ID de paciente. ¿Son del mismo paciente?</translation>
    </message>
    <message>
        <source>This photo has no patient ID. Is it patient {patient}?</source>
        <translation>Esta foto no tiene ID de paciente. ¿Es del paciente {patient}?</translation>
    </message>
    <message>
        <source>Which eye is this photo?</source>
        <translation>¿De qué ojo es esta foto?</translation>
    </message>
    <message numerus="yes">
        <source>%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, or choose Save without ID, to keep them.</source>
        <translation>
            <numerusform>%n foto de este paciente no está guardada porque no hay ID de paciente. Escriba el ID, o elija Guardar sin ID, para conservarla.</numerusform>
            <numerusform>%n fotos de este paciente no están guardadas porque no hay ID de paciente. Escriba el ID, o elija Guardar sin ID, para conservarlas.</numerusform>
        </translation>
    </message>
    <message>
        <source>New patient: {patient}</source>
        <translation>Nuevo paciente: {patient}</translation>
    </message>
    <message>
        <source>Yes, the same patient</source>
        <translation>Sí, el mismo paciente</translation>
    </message>
    <message>
        <source>No: discard them</source>
        <translation>No: descartarlas</translation>
    </message>
    <message>
        <source>No, a new patient</source>
        <translation>No, otro paciente</translation>
    </message>
    <message>
        <source>Do not use this photo</source>
        <translation>No usar esta foto</translation>
    </message>
    <message>
        <source>Discard them and start a new patient</source>
        <translation>Descartarlas y empezar otro paciente</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancelar</translation>
    </message>
</context>
<context>
    <name>Report</name>
    <message>
        <source>Eye screening report</source>
        <translation>Informe de cribado ocular</translation>
    </message>
    <message>
        <source>no ID (confirmed by the operator)</source>
        <translation>sin ID (confirmado por el operador)</translation>
    </message>
    <message>
        <source>Patient ID</source>
        <translation>ID del paciente</translation>
    </message>
    <message>
        <source>Date and time</source>
        <translation>Fecha y hora</translation>
    </message>
    <message>
        <source>Operator</source>
        <translation>Operador</translation>
    </message>
    <message>
        <source>Screening support, not a diagnosis. An eye specialist must confirm any finding. A normal result does not rule out eye disease.</source>
        <translation>Ayuda al cribado, no es un diagnóstico. Un oftalmólogo debe confirmar cualquier hallazgo. Un resultado normal no descarta una enfermedad ocular.</translation>
    </message>
    <message>
        <source>No photo of this eye was saved.</source>
        <translation>No se guardó ninguna foto de este ojo.</translation>
    </message>
    <message>
        <source>Saved: {time}</source>
        <translation>Guardado: {time}</translation>
    </message>
    <message>
        <source>Score {score:.3f} (refer at {threshold:.3f} or more)</source>
        <translation>Puntuación {score:.3f} (derivar desde {threshold:.3f})</translation>
    </message>
    <message>
        <source>Model {model} on {backend}</source>
        <translation>Modelo {model} con {backend}</translation>
    </message>
    <message>
        <source>Corrections:</source>
        <translation>Correcciones:</translation>
    </message>
    <message>
        <source>eye</source>
        <translation>ojo</translation>
    </message>
    <message>
        <source>operator</source>
        <translation>operador</translation>
    </message>
    <message>
        <source>{field} changed to {value} by {by}, {time}</source>
        <translation>{field} cambiado a {value} por {by}, {time}</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>Dónde están los signos:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>débil</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>fuerte</translation>
    </message>
</context>
<context>
    <name>Result</name>
    <message>
        <source>Retake the photo: {reason}</source>
        <translation>Repita la foto: {reason}</translation>
    </message>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>Derivar a un oftalmólogo</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>Sin signos que requieran derivación</translation>
    </message>
    <message>
        <source>Ungradable: retake</source>
        <translation>No evaluable: repetir</translation>
    </message>
    <message>
        <source>Unknown</source>
        <translation>Desconocido</translation>
    </message>
    <message>
        <source>No photo yet</source>
        <translation>Aún no hay foto</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>Analizando...</translation>
    </message>
    <message>
        <source>Choose the eye, then open, capture or drop a photo.</source>
        <translation>Elija el ojo y luego abra, capture o arrastre una foto.</translation>
    </message>
    <message>
        <source>Signs that need an eye specialist were found in this photo.</source>
        <translation>En esta foto se encontraron signos que debe ver un oftalmólogo.</translation>
    </message>
    <message>
        <source>A normal result does not rule out eye disease.</source>
        <translation>Un resultado normal no descarta una enfermedad ocular.</translation>
    </message>
</context>
<context>
    <name>Save</name>
    <message>
        <source>Saved as an ungradable attempt.</source>
        <translation>Guardada como intento no evaluable.</translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation>Guardado.</translation>
    </message>
    <message>
        <source>Not saved: no result for this photo.</source>
        <translation>No guardada: esta foto no tiene resultado.</translation>
    </message>
    <message>
        <source>Saving...</source>
        <translation>Guardando...</translation>
    </message>
    <message>
        <source>Not saved yet: enter the patient ID and press Enter.</source>
        <translation>Aún no guardada: escriba el ID del paciente y pulse Intro.</translation>
    </message>
</context>
<context>
    <name>ScreenPage</name>
    <message>
        <source>Photo from</source>
        <translation>Foto desde</translation>
    </message>
    <message>
        <source>File</source>
        <translation>Archivo</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Cámara</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Carpeta de la cámara</translation>
    </message>
    <message>
        <source>DICOM</source>
        <translation>DICOM</translation>
    </message>
    <message>
        <source>Open photo...</source>
        <translation>Abrir foto...</translation>
    </message>
    <message>
        <source>Or drag a photo onto this window.</source>
        <translation>O arrastre una foto a esta ventana.</translation>
    </message>
    <message>
        <source>Find cameras</source>
        <translation>Buscar cámaras</translation>
    </message>
    <message>
        <source>Capture (Space)</source>
        <translation>Capturar (Espacio)</translation>
    </message>
    <message>
        <source>The folder the camera saves photos to:</source>
        <translation>La carpeta donde la cámara guarda las fotos:</translation>
    </message>
    <message>
        <source>Choose folder...</source>
        <translation>Elegir carpeta...</translation>
    </message>
    <message>
        <source>Open DICOM file...</source>
        <translation>Abrir archivo DICOM...</translation>
    </message>
    <message>
        <source>Receive from the camera</source>
        <translation>Recibir de la cámara</translation>
    </message>
    <message>
        <source>Show where the signs are</source>
        <translation>Mostrar dónde están los signos</translation>
    </message>
    <message>
        <source>Details</source>
        <translation>Detalles</translation>
    </message>
    <message>
        <source>Save without ID...</source>
        <translation>Guardar sin ID...</translation>
    </message>
    <message>
        <source>Retry save</source>
        <translation>Reintentar guardar</translation>
    </message>
    <message>
        <source>PDF report</source>
        <translation>Informe PDF</translation>
    </message>
    <message>
        <source>This is the left eye</source>
        <translation>Es el ojo izquierdo</translation>
    </message>
    <message>
        <source>This is the right eye</source>
        <translation>Es el ojo derecho</translation>
    </message>
    <message>
        <source>Keep as ungradable</source>
        <translation>Guardar como no evaluable</translation>
    </message>
    <message>
        <source>Where the signs are:</source>
        <translation>Dónde están los signos:</translation>
    </message>
    <message>
        <source>weak</source>
        <translation>débil</translation>
    </message>
    <message>
        <source>strong</source>
        <translation>fuerte</translation>
    </message>
</context>
<context>
    <name>Settings</name>
    <message>
        <source>Automatic (the fastest installed)</source>
        <translation>Automático (el más rápido instalado)</translation>
    </message>
    <message>
        <source>{name} (not installed)</source>
        <translation>{name} (no instalado)</translation>
    </message>
    <message>
        <source>The camera AE titles are not valid: up to 16 letters or digits each, separated by commas. Nothing was changed.</source>
        <translation>Los títulos AE de las cámaras no son válidos: hasta 16 letras o cifras cada uno, separados por comas. No se cambió nada.</translation>
    </message>
    <message>
        <source>Settings saved.</source>
        <translation>Ajustes guardados.</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Screening model</source>
        <translation>Modelo de cribado</translation>
    </message>
    <message>
        <source>Model folder or file</source>
        <translation>Carpeta o archivo del modelo</translation>
    </message>
    <message>
        <source>Empty: the model that came with the app</source>
        <translation>Vacío: el modelo incluido con la aplicación</translation>
    </message>
    <message>
        <source>Choose...</source>
        <translation>Elegir...</translation>
    </message>
    <message>
        <source>Records and language</source>
        <translation>Registros e idioma</translation>
    </message>
    <message>
        <source>Records folder</source>
        <translation>Carpeta de registros</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Idioma</translation>
    </message>
    <message>
        <source>Receiving from the camera (DICOM)</source>
        <translation>Recepción desde la cámara (DICOM)</translation>
    </message>
    <message>
        <source>Network port</source>
        <translation>Puerto de red</translation>
    </message>
    <message>
        <source>Cameras allowed to send (AE titles)</source>
        <translation>Cámaras que pueden enviar (títulos AE)</translation>
    </message>
    <message>
        <source>e.g. FUNDUSCAM, separated by commas</source>
        <translation>p. ej. FUNDUSCAM, separados por comas</translation>
    </message>
    <message>
        <source>Largest photo accepted (MB)</source>
        <translation>Foto más grande admitida (MB)</translation>
    </message>
    <message>
        <source>Also accept general photos (VL Photographic, Secondary Capture)</source>
        <translation>Aceptar también fotos generales (VL Photographic, Secondary Capture)</translation>
    </message>
    <message>
        <source>Advanced (for the IT person)</source>
        <translation>Avanzado (para el técnico informático)</translation>
    </message>
    <message>
        <source>Inference engine</source>
        <translation>Motor de inferencia</translation>
    </message>
    <message>
        <source>Processor threads</source>
        <translation>Hilos del procesador</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>Automático</translation>
    </message>
    <message>
        <source>Apply settings</source>
        <translation>Aplicar ajustes</translation>
    </message>
</context>
<context>
    <name>Sources</name>
    <message>
        <source>Open photo</source>
        <translation>Abrir foto</translation>
    </message>
    <message>
        <source>Stop preview</source>
        <translation>Detener vista previa</translation>
    </message>
    <message>
        <source>Start preview</source>
        <translation>Iniciar vista previa</translation>
    </message>
    <message>
        <source>No camera found. Plug in the camera and press Find cameras.</source>
        <translation>No se encontró ninguna cámara. Conecte la cámara y pulse Buscar cámaras.</translation>
    </message>
    <message>
        <source>The camera could not be opened. Check it is plugged in and not used by another program.</source>
        <translation>No se pudo abrir la cámara. Compruebe que esté conectada y que otro programa no la use.</translation>
    </message>
    <message>
        <source>Camera ready: {w} x {h}</source>
        <translation>Cámara lista: {w} x {h}</translation>
    </message>
    <message>
        <source>The camera stopped sending pictures. Check the cable and press Start preview.</source>
        <translation>La cámara dejó de enviar imágenes. Revise el cable y pulse Iniciar vista previa.</translation>
    </message>
    <message>
        <source>Stop watching</source>
        <translation>Dejar de vigilar</translation>
    </message>
    <message>
        <source>Start watching</source>
        <translation>Empezar a vigilar</translation>
    </message>
    <message>
        <source>Camera folder</source>
        <translation>Carpeta de la cámara</translation>
    </message>
    <message>
        <source>This folder does not exist. Choose the folder the camera saves photos to.</source>
        <translation>Esta carpeta no existe. Elija la carpeta donde la cámara guarda las fotos.</translation>
    </message>
    <message>
        <source>Watching the camera folder.</source>
        <translation>Vigilando la carpeta de la cámara.</translation>
    </message>
    <message>
        <source>The camera folder cannot be read right now.</source>
        <translation>Ahora no se puede leer la carpeta de la cámara.</translation>
    </message>
    <message>
        <source>taken</source>
        <translation>recibida</translation>
    </message>
    <message>
        <source>Receiver off.</source>
        <translation>Recepción desactivada.</translation>
    </message>
    <message>
        <source>Waiting for photos on {host}:{port} (AE title {ae}).</source>
        <translation>Esperando fotos en {host}:{port} (título AE {ae}).</translation>
    </message>
    <message>
        <source>Enter the AE title of the camera in Settings first.</source>
        <translation>Primero escriba el título AE de la cámara en Ajustes.</translation>
    </message>
    <message>
        <source>The receiver could not start: the network port is in use. Choose another in Settings.</source>
        <translation>No se pudo iniciar la recepción: el puerto de red está en uso. Elija otro en Ajustes.</translation>
    </message>
    <message>
        <source>A photo arrived from the camera.</source>
        <translation>Llegó una foto de la cámara.</translation>
    </message>
</context>
<context>
    <name>Store</name>
    <message>
        <source>Not saved: the disk is full. Free some space, then press Retry save.</source>
        <translation>No guardado: el disco está lleno. Libere espacio y pulse Reintentar guardar.</translation>
    </message>
    <message>
        <source>Not saved: the records folder cannot be written. Choose another records folder in Settings, then press Retry save.</source>
        <translation>No guardado: no se puede escribir en la carpeta de registros. Elija otra en Ajustes y pulse Reintentar guardar.</translation>
    </message>
    <message>
        <source>Not saved: the records database is damaged. Choose another records folder in Settings.</source>
        <translation>No guardado: la base de datos de registros está dañada. Elija otra carpeta de registros en Ajustes.</translation>
    </message>
    <message>
        <source>Not saved: these records were made by a newer version of edge-screen. Update edge-screen.</source>
        <translation>No guardado: estos registros los creó una versión más nueva de edge-screen. Actualice edge-screen.</translation>
    </message>
    <message>
        <source>Not saved: the records folder has a problem. Check it in Settings, then press Retry save.</source>
        <translation>No guardado: hay un problema con la carpeta de registros. Revísela en Ajustes y pulse Reintentar guardar.</translation>
    </message>
</context>
<context>
    <name>Summary</name>
    <message>
        <source>Refer to an eye specialist</source>
        <translation>Derivar a un oftalmólogo</translation>
    </message>
    <message>
        <source>Signs were found in both eyes.</source>
        <translation>Se encontraron signos en ambos ojos.</translation>
    </message>
    <message>
        <source>Signs were found in the right eye.</source>
        <translation>Se encontraron signos en el ojo derecho.</translation>
    </message>
    <message>
        <source>Signs were found in the left eye.</source>
        <translation>Se encontraron signos en el ojo izquierdo.</translation>
    </message>
    <message>
        <source>Retake the photos of both eyes</source>
        <translation>Repita las fotos de ambos ojos</translation>
    </message>
    <message>
        <source>Retake the photo of the right eye</source>
        <translation>Repita la foto del ojo derecho</translation>
    </message>
    <message>
        <source>Retake the photo of the left eye</source>
        <translation>Repita la foto del ojo izquierdo</translation>
    </message>
    <message>
        <source>A photo that cannot be graded gets no result.</source>
        <translation>Una foto que no se puede evaluar no recibe resultado.</translation>
    </message>
    <message>
        <source>A file could not be used</source>
        <translation>No se pudo usar un archivo</translation>
    </message>
    <message>
        <source>See the message below the eye, then open the photo again.</source>
        <translation>Lea el mensaje bajo el ojo y vuelva a abrir la foto.</translation>
    </message>
    <message>
        <source>Screening...</source>
        <translation>Analizando...</translation>
    </message>
    <message>
        <source>No referable sign found</source>
        <translation>Sin signos que requieran derivación</translation>
    </message>
    <message>
        <source>The left eye has no photo yet.</source>
        <translation>El ojo izquierdo aún no tiene foto.</translation>
    </message>
    <message>
        <source>The right eye has no photo yet.</source>
        <translation>El ojo derecho aún no tiene foto.</translation>
    </message>
    <message>
        <source>Both eyes were screened.</source>
        <translation>Se analizaron ambos ojos.</translation>
    </message>
    <message>
        <source>Ready for the next patient</source>
        <translation>Listo para el siguiente paciente</translation>
    </message>
    <message>
        <source>Enter the patient ID, choose the eye, then open, capture or drop a photo.</source>
        <translation>Escriba el ID del paciente, elija el ojo y luego abra, capture o arrastre una foto.</translation>
    </message>
    <message>
        <source>Patient: no ID (confirmed)</source>
        <translation>Paciente: sin ID (confirmado)</translation>
    </message>
    <message>
        <source>Patient: {patient}</source>
        <translation>Paciente: {patient}</translation>
    </message>
    <message>
        <source>Patient: not entered yet</source>
        <translation>Paciente: aún sin escribir</translation>
    </message>
</context>
<context>
    <name>VisitController</name>
    <message>
        <source>The patient of this visit cannot change any more. Press New patient to screen another patient.</source>
        <translation>El paciente de esta visita ya no se puede cambiar. Pulse Nuevo paciente para analizar a otro.</translation>
    </message>
    <message>
        <source>New patient from the file: {patient}</source>
        <translation>Nuevo paciente según el archivo: {patient}</translation>
    </message>
    <message>
        <source>Save without a patient ID? These photos cannot be found by patient later.</source>
        <translation>¿Guardar sin ID de paciente? Después no se podrán buscar estas fotos por paciente.</translation>
    </message>
    <message>
        <source>Save without ID</source>
        <translation>Guardar sin ID</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancelar</translation>
    </message>
    <message>
        <source>Corrected. This photo is now marked: {eye}.</source>
        <translation>Corregido. Esta foto ahora es: {eye}.</translation>
    </message>
    <message>
        <source>An earlier photo of this eye was referred.</source>
        <translation>Una foto anterior de este ojo requería derivación.</translation>
    </message>
</context>
</TS>
