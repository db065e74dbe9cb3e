// The seats the service found in the photo: one clickable box per seat drawn over the photo.

const percent = (value) => `${(value * 100).toFixed(0)} %`;

/** Boxes over `image` (the uploaded photo) for each of `objects` ({box: [x0, y0, x1, y1] px of the photo
 * after EXIF rotation, label, score}), main seat first; `onSelect(index)` when one is clicked.
 * Positions are fractions of the photo's natural size, so they follow the displayed size. */
export function renderSeats({ layer, image }, objects, onSelect) {
  const place = () => {
    const width = image.naturalWidth || 1;
    const height = image.naturalHeight || 1;
    layer.replaceChildren(...objects.map(({ box, label, score }, index) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'seat-box';
      button.dataset.index = String(index);
      button.style.left = `${(box[0] / width) * 100}%`;
      button.style.top = `${(box[1] / height) * 100}%`;
      button.style.width = `${((box[2] - box[0]) / width) * 100}%`;
      button.style.height = `${((box[3] - box[1]) / height) * 100}%`;
      const name = `Seat ${index + 1}${index === 0 ? ' (main)' : ''}: ${label}, ${percent(score)} sure`;
      button.setAttribute('aria-label', name);
      button.title = name;
      const tag = document.createElement('span');
      tag.className = 'seat-tag';
      tag.textContent = `${index + 1} · ${label}`;
      button.append(tag);
      button.addEventListener('click', () => onSelect(index));
      return button;
    }));
  };
  if (image.complete && image.naturalWidth) place();
  else image.addEventListener('load', place, { once: true });
}

/** Mark the selected seat's box (aria-pressed) and no other. */
export function markSeat(layer, index) {
  for (const button of layer.querySelectorAll('.seat-box')) {
    const selected = Number(button.dataset.index) === index;
    button.classList.toggle('selected', selected);
    button.setAttribute('aria-pressed', String(selected));
  }
}
