// A short stand-in for proxmox-widget-toolkit's proxmoxlib.js (PVE 9): the function whose
// check opens the "No valid subscription" dialog, retyped in its shape, not copied.
Ext.define('Proxmox.Utils', { utilities: { checked_command: function(orig_cmd) {
    Proxmox.Utils.API2Request({ url: '/nodes/localhost/subscription', method: 'GET',
	success: function(response, opts) { let res = response.result;
	    if (res === null || res === undefined || !res || res
		.data.status.toLowerCase() !== 'active') {
		Ext.Msg.show({ title: gettext('No valid subscription'), callback: orig_cmd });
	    } else { orig_cmd(); } } }); } } });
