/** @type {AppTypes.Config} */

// Filmless's configuration of the OHIF viewer: OHIF's secure default
// (config/default.js of @ohif/app, pinned in viewer-web/setup.sh) with the
// data source pointed at this server's same-origin /dicom-web.
// viewer-web/setup.sh copies it over the package's dist/app-config.js.
// A share's link opens the viewer on its study only: `?share=TOKEN` points
// every DICOMweb request at the share's own prefix (/s/TOKEN/dicom-web),
// which answers for that study and nothing else.
const filmlessShare = new URLSearchParams(window.location.search).get('share');
const filmlessDicomWeb =
  window.location.origin +
  (filmlessShare && /^[A-Za-z0-9_-]{20,}$/.test(filmlessShare)
    ? '/s/' + filmlessShare + '/dicom-web'
    : '/dicom-web');

// The facility this archive serves ([site] name): the server puts it in
// front of this file as window.filmlessSite.
const filmlessSiteName = (window.filmlessSite && window.filmlessSite.name) || 'Filmless';

// Names as the archive matches them: without case or accents, so that
// `nguyen` finds NGUYỄN (the server's C-FIND and QIDO-RS do the same; the
// study list filters its rows again in the browser).
const filmlessFold = value =>
  String(value ?? '')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase();
const filmlessNameFilter = (row, columnId, filter) => {
  const wanted = filmlessFold(filter).replace(/[*?^,]/g, ' ').trim().split(/\s+/);
  const name = filmlessFold(row.getValue(columnId)).replace(/[\^,]/g, ' ');
  return wanted.every(part => name.includes(part));
};

// Errors in the viewer go to the server's log (the radiologist sees no
// details: showErrorDetails below), not through a patient's share link.
const filmlessReport = (message, source) => {
  if (filmlessShare) return;
  try {
    const body = JSON.stringify({ message: String(message).slice(0, 2000), source: String(source || '').slice(0, 500) });
    fetch('/api/viewer-log', { method: 'POST', body, credentials: 'same-origin', keepalive: true,
      headers: { 'Content-Type': 'application/json' } }).catch(() => {});
  } catch (e) { /* never an error about an error */ }
};
window.addEventListener('error', (e) => filmlessReport(e.message, `${e.filename || ''}:${e.lineno || ''}`));
window.addEventListener('unhandledrejection', (e) =>
  filmlessReport((e.reason && (e.reason.stack || e.reason.message)) || e.reason, 'unhandled promise rejection'));

window.config = {
  name: 'filmless',
  routerBasename: null,
  // The facility's name in the header (it leads back to the study list),
  // and the administration console a click away (not through a share).
  whiteLabeling: {
    createLogoComponentFn: React =>
      React.createElement(
        'span',
        { className: 'flex items-center gap-3 text-white', 'data-filmless': 'site' },
        React.createElement('span', { className: 'text-lg font-semibold' }, filmlessSiteName),
        filmlessShare
          ? null
          : React.createElement(
              'a',
              {
                href: '/admin',
                className: 'text-primary-light text-sm underline',
                title: 'Filmless administration',
                onClick: e => e.stopPropagation(),
              },
              'Console'
            )
      ),
  },
  extensions: [],
  modes: [],
  customizationService: {
    // Daily clinical use, not a demo: no first-run tour.
    'ohif.tours': { $set: [] },
    // The study list: names matched as the archive matches them, and the
    // patient's ID and birth date kept in sight next to the name (a
    // namesake told apart) when the window is narrow.
    'workList.columns': {
      $apply: columns => {
        const out = [];
        for (const c of columns || []) {
          if (c && c.id === 'patient') {
            out.push({ ...c, filterFn: filmlessNameFilter });
          } else if (c && c.id === 'mrn') {
            out.push({ ...c, meta: { ...c.meta, priority: 90 } });
            out.push({
              id: 'patientBirthDate',
              meta: { label: 'Birth date', minWidth: 100, priority: 85 },
            });
          } else {
            out.push(c);
          }
        }
        return out;
      },
    },
  },
  // Nor the investigational-use dialog in front of the images.
  investigationalUseDialog: { option: 'never' },

  // --- URL-driven customizations (?customization=) ----------------------------
  // OFF by default. To allow loading customization data files from the URL, set
  // `customizationUrlPrefixes` to a map of allowed prefixes. The `default` prefix
  // (no slashes) is used for values with no leading slash; every other prefix
  // must start AND end with a slash and is matched against the leading
  // `/segment/` of the value. Files are fetched and parsed as JSONC data — they
  // are never executed. Example (left disabled here on purpose):
  //
  // customizationUrlPrefixes: {
  //   default: './customizations/',                       // ?customization=tools/ctPresets
  //   '/remote/': 'https://cdn.example.com/ohif-custom/', // ?customization=/remote/siteA
  // },
  // ----------------------------------------------------------------------------

  // --- Native ("next") Generic Viewport --------------------------------------
  // OFF by default. Set `enabled: true` (or pass ?useNextViewports=true in the
  // URL) to drive viewports through cornerstone's native GenericViewport
  // ("next") API instead of the legacy Stack/Volume viewport classes.
  genericViewports: {
    enabled: false,
    // Render backend selection: 'cpu' | 'webgl' | 'auto' | a backend id
    // registered via cornerstone's registerRenderBackend (e.g. a webgpu
    // backend), or a map with per-viewport-type overrides, e.g.
    // { default: 'webgl', orthographic: 'cpu' }. The matching URL params take
    // precedence per-session: ?viewportRendering=cpu and
    // ?orthographic.viewportRendering=cpu.
    // viewportRendering: 'auto',
  },
  // ----------------------------------------------------------------------------
  showStudyList: true,
  // some windows systems have issues with more than 3 web workers
  maxNumberOfWebWorkers: 3,
  // below flag is for performance reasons, but it might not work for all servers
  showWarningMessageForCrossOrigin: true,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  experimentalStudyBrowserSort: false,
  strictZSpacingForVolumeViewport: true,
  groupEnabledModesFirst: true,
  allowMultiSelectExport: false,
  maxNumRequests: {
    interaction: 100,
    thumbnail: 5,
    // Prefetch number is dependent on the http protocol. For http 2 or
    // above, the number of requests can be go a lot higher.
    prefetch: 25,
  },
  // Error details go to the console (and the server's log), not to the
  // radiologist's screen.
  showErrorDetails: 'dev', // 'always', 'dev', 'production'
  // `dangerouslyUseDynamicConfig` (load configuration from a `configUrl` query
  // parameter) is intentionally left OFF in the secure default build. See
  // config/dev.js for the documented shape.
  defaultDataSourceName: 'ohif',
  defaultDataSourceName: 'filmless',
  dataSources: [
    {
      // This server's own DICOMweb service, same origin: no CORS set-up.
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'filmless',
      configuration: {
        friendlyName: 'Filmless',
        name: 'filmless',
        wadoUriRoot: filmlessDicomWeb,
        qidoRoot: filmlessDicomWeb,
        wadoRoot: filmlessDicomWeb,
        qidoSupportsIncludeField: true,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: {
          enabled: true,
          relativeResolution: 'studies',
        },
        omitQuotationForMultipartRequest: true,
        dicomUploadEnabled: !filmlessShare,
      },
    },
  ],
  httpErrorHandler: error => {
    console.warn('DICOMweb request failed', error.status);
  },
};
