// The three ways to give a photo: the file picker, drag-and-drop onto the drop zone, and paste.

/** First file of a DataTransfer (drop or paste), or null if it holds none. */
function firstFile(transfer) {
  const files = transfer?.files;
  return files && files.length ? files[0] : null;
}

/** Call `onFile(file)` whenever the user picks, drops or pastes a file. */
export function bindUpload({ input, dropzone, onFile }) {
  input.addEventListener('change', () => {
    if (input.files.length) onFile(input.files[0]);
  });

  for (const type of ['dragenter', 'dragover']) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault(); // without this the browser opens the dropped file itself
      dropzone.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'dragend']) {
    dropzone.addEventListener(type, () => dropzone.classList.remove('dragging'));
  }
  dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropzone.classList.remove('dragging');
    const file = firstFile(event.dataTransfer);
    if (file) onFile(file);
  });

  document.addEventListener('paste', (event) => {
    const file = firstFile(event.clipboardData);
    if (!file) return; // plain text pasted into the angle fields stays text
    event.preventDefault();
    onFile(file);
  });
}
